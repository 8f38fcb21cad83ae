// The A/B page (/ui/ab): one pair at a time from GET /ab/next, two <audio> elements on one
// clock (clock.js: the one not heard is muted and kept at the heard one's position), gains from
// the server so both clips play at the quieter one's loudness, and the vote to POST /ab/votes.
"use strict";

function initAB() {
  const root = $("#ab");
  if (!root) return;
  const players = { a: $("#ab-audio-a"), b: $("#ab-audio-b") };
  const status = $("#ab-status");
  const clock = oneClock(players, { seek: $("#ab-seek"), play: $("#ab-play"), time: $("#ab-time"),
                                    buttons: { a: $("#ab-listen-a"), b: $("#ab-listen-b") } });
  let pair = null;

  async function load() {
    clock.setSources({});
    root.dataset.state = "loading";
    const result = await api("GET", "/ab/next");
    if (!result.ok) { status.textContent = errorText(result); root.dataset.state = "error"; return; }
    pair = result.data.ticket ? result.data : null;
    if (!pair) { status.textContent = result.data.message; root.dataset.state = "done"; return; }
    root.dataset.ticket = pair.ticket;
    $("#ab-prompt").textContent = pair.prompt || "";
    clock.setSources({ a: pair.a.audio, b: pair.b.audio });
    for (const side of ["a", "b"]) {
      players[side].volume = Math.min(1, Math.pow(10, pair[side].gain_db / 20)); // gain_db <= 0
    }
    $("#ab-note").value = "";
    root.dataset.state = "ready";
  }

  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "INPUT" || !pair) return;
    if (event.key === "a" || event.key === "b") clock.listen(event.key);
    if (event.key === " ") { event.preventDefault(); clock.toggle(); }
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
  window.songlakeAB = { players, listen: clock.listen, toggle: clock.toggle,
                        get heard() { return clock.heard; }, get pair() { return pair; } };
  load();
}

document.addEventListener("DOMContentLoaded", initAB);
