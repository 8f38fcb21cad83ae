// The A/B page (/ui/ab): one pair at a time from GET /ab/next, two <audio> elements on one
// clock (the one not heard is muted and kept at the heard one's position), gains from the
// server so both clips play at the quieter one's loudness, and the vote to POST /ab/votes.
"use strict";

function initAB() {
  const root = $("#ab");
  if (!root) return;
  const players = { a: $("#ab-audio-a"), b: $("#ab-audio-b") };
  const seek = $("#ab-seek"), play = $("#ab-play"), status = $("#ab-status");
  let pair = null, heard = "a";

  const other = (side) => (side === "a" ? "b" : "a");
  const clock = () => players[heard];

  function listen(side) {
    const from = clock();
    heard = side;
    players[other(side)].muted = true;
    players[side].muted = false;
    if (Math.abs(players[side].currentTime - from.currentTime) > 0.02) players[side].currentTime = from.currentTime;
    $("#ab-listen-a").setAttribute("aria-pressed", String(side === "a"));
    $("#ab-listen-b").setAttribute("aria-pressed", String(side === "b"));
  }

  async function toggle() {
    if (!pair) return;
    if (clock().paused) {
      const t = clock().currentTime;
      for (const p of Object.values(players)) { p.currentTime = t; }
      await Promise.all(Object.values(players).map((p) => p.play().catch(() => null)));
      play.textContent = "Pause";
    } else {
      for (const p of Object.values(players)) p.pause();
      play.textContent = "Play";
    }
  }

  function tick() {
    const t = clock().currentTime;
    const follower = players[other(heard)];
    if (!follower.paused && Math.abs(follower.currentTime - t) > 0.05) follower.currentTime = t; // one clock
    if (document.activeElement !== seek) seek.value = t;
    $("#ab-time").textContent = timeText(t);
  }

  async function load() {
    for (const p of Object.values(players)) { p.pause(); p.removeAttribute("src"); }
    play.textContent = "Play";
    root.dataset.state = "loading";
    const result = await api("GET", "/ab/next");
    if (!result.ok) { status.textContent = errorText(result); root.dataset.state = "error"; return; }
    pair = result.data.ticket ? result.data : null;
    if (!pair) { status.textContent = result.data.message; root.dataset.state = "done"; return; }
    root.dataset.ticket = pair.ticket;
    $("#ab-prompt").textContent = pair.prompt || "";
    for (const side of ["a", "b"]) {
      players[side].src = pair[side].audio;
      players[side].volume = Math.min(1, Math.pow(10, pair[side].gain_db / 20)); // gain_db <= 0
    }
    players.a.addEventListener("loadedmetadata", () => {
      seek.max = Math.min(players.a.duration || 0, players.b.duration || players.a.duration || 0);
    }, { once: true });
    listen("a");
    $("#ab-note").value = "";
    root.dataset.state = "ready";
  }

  play.addEventListener("click", toggle);
  $("#ab-listen-a").addEventListener("click", () => listen("a"));
  $("#ab-listen-b").addEventListener("click", () => listen("b"));
  seek.addEventListener("input", () => { for (const p of Object.values(players)) p.currentTime = Number(seek.value); });
  for (const p of Object.values(players)) p.addEventListener("timeupdate", tick);
  players.a.addEventListener("ended", () => { players.b.pause(); play.textContent = "Play"; });
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "INPUT") return;
    if (event.key === "a" || event.key === "b") listen(event.key);
    if (event.key === " ") { event.preventDefault(); toggle(); }
  });
  $("#ab-vote").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!pair) return;
    const choice = event.submitter ? event.submitter.value : "tie";
    const note = $("#ab-note").value.trim();
    const result = await api("POST", "/ab/votes", { ticket: pair.ticket, choice, note: note || null });
    if (!result.ok) { status.textContent = errorText(result); return; }
    status.textContent = `Vote saved (lake version ${result.data.version}). Next pair:`;
    root.dataset.votes = String(Number(root.dataset.votes || 0) + 1);
    await load();
  });
  window.songlakeAB = { players, listen, toggle, get heard() { return heard; }, get pair() { return pair; } };
  load();
}

document.addEventListener("DOMContentLoaded", initAB);
