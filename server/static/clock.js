// One play control for several <audio> elements on one clock (the A/B page, the duplicates
// review). The heard element sets the clock and the others are muted and kept at the clock's
// position plus their offset, so switching which one is heard keeps the position: with offsets
// {a: 0, b: 1.5}, time t in A plays with time t + 1.5 in B. The clock reads in the time of the
// element whose offset is 0.
"use strict";

function oneClock(players, { offsets = {}, seek = null, play = null, time = null, buttons = {} } = {}) {
  const sides = Object.keys(players);
  let heard = sides[0];
  const offset = (side) => offsets[side] || 0;
  const position = () => players[heard].currentTime - offset(heard);

  function place(side, t, tolerance) {
    const want = Math.max(0, t + offset(side));
    if (Math.abs(players[side].currentTime - want) > tolerance) players[side].currentTime = want;
  }

  function listen(side) {
    const t = position();
    heard = side;
    for (const s of sides) players[s].muted = s !== side;
    place(side, t, 0.02);
    for (const [s, button] of Object.entries(buttons)) button.setAttribute("aria-pressed", String(s === side));
  }

  async function toggle() {
    if (players[heard].paused) {
      const t = position();
      for (const s of sides) place(s, t, 0);
      await Promise.all(sides.map((s) => players[s].play().catch(() => null)));
      if (play) play.textContent = "Pause";
    } else {
      stop();
    }
  }

  function stop() {
    for (const s of sides) players[s].pause();
    if (play) play.textContent = "Play";
  }

  function tick() {
    const t = position();
    for (const s of sides) if (s !== heard && !players[s].paused) place(s, t, 0.05);
    if (seek && document.activeElement !== seek) seek.value = t;
    if (time) time.textContent = timeText(Math.max(0, t));
  }

  function seekTo(t) { for (const s of sides) place(s, t, 0); }

  function setSources(sources) {
    stop();
    for (const s of sides) { players[s].removeAttribute("src"); if (sources[s]) players[s].src = sources[s]; }
    players[sides[0]].addEventListener("loadedmetadata", () => {
      if (seek) seek.max = Math.min(...sides.map((s) => (players[s].duration || players[sides[0]].duration || 0) - offset(s)));
    }, { once: true });
    listen(sides[0]);
  }

  if (play) play.addEventListener("click", toggle);
  for (const [s, button] of Object.entries(buttons)) button.addEventListener("click", () => listen(s));
  if (seek) seek.addEventListener("input", () => seekTo(Number(seek.value)));
  for (const s of sides) players[s].addEventListener("timeupdate", tick);
  players[sides[0]].addEventListener("ended", stop);
  return { listen, toggle, stop, seekTo, position, setSources, get heard() { return heard; } };
}
