// The duplicates review (/ui/duplicates/{song_a}/{song_b}): both copies on one clock (clock.js),
// copy B offset by the pair's offset_seconds, so time t in A plays with time t + offset in B;
// keep / drop / make preferred write the duplicate_choice label through PATCH /songs/{id}/labels.
"use strict";

function initDuplicatePair() {
  const root = $("#dup");
  if (!root) return;
  const players = { a: $("#dup-audio-a"), b: $("#dup-audio-b") };
  const offset = Number(root.dataset.offset || 0);
  const clock = oneClock(players, { offsets: { a: 0, b: offset }, seek: $("#dup-seek"), play: $("#dup-play"),
                                    time: $("#dup-time"), buttons: { a: $("#dup-listen-a"), b: $("#dup-listen-b") } });
  clock.setSources({ a: root.dataset.audioA, b: root.dataset.audioB });
  const status = $("#dup-status");

  for (const button of root.querySelectorAll("button.dup-choice")) {
    button.addEventListener("click", async () => {
      const side = button.dataset.side, song = button.dataset.song, choice = button.dataset.choice;
      const note = $("#dup-note").value.trim();
      const result = await api("PATCH", `/songs/${encodeURIComponent(song)}/labels`,
                               { labels: { duplicate_choice: choice }, note: note || null });
      if (!result.ok) { status.textContent = errorText(result); status.className = "hint error"; return; }
      const stored = result.data.history.find((h) => h.field === "duplicate_choice");
      $(`#dup-choice-${side}`).textContent = `${choice} (by ${stored ? stored.author : "you"})`;
      root.dataset[`choice${side.toUpperCase()}`] = choice;
      status.textContent = `${choice} saved for copy ${side.toUpperCase()} (lake version ${result.data.version}); nothing was deleted.`;
      status.className = "hint ok";
    });
  }
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "INPUT") return;
    if (event.key === "a" || event.key === "b") clock.listen(event.key);
    if (event.key === " ") { event.preventDefault(); clock.toggle(); }
  });
  window.songlakeDuplicates = { players, clock, offset };
  root.dataset.state = "ready";
}

document.addEventListener("DOMContentLoaded", initDuplicatePair);
