"""Section labels for ``udfs.sections``: repetition groups, then rules on loudness, vocals and order.

Segments are bar ranges [start, end) on a ``_bars.BarFeatures`` grid. The rules are written out in
``udfs.sections``' docstring; this module implements them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from songlake.udfs._bars import BarFeatures
from songlake.udfs._structure import harmony_ssm, repeat_scale

SAME_GROUP = 0.5  # segments closer than this are the same material
NEAR_GROUP = 0.75  # closer than this to a verse, an unrepeated segment leading into a chorus is a verse
BASS_MIX = 0.5  # share of the bass line in the harmony that segments are matched on
VOICED_DB = -20.0  # a bar whose vocal-stem level is within 20 dB of the stem's loud bars has vocals
SOLO_DB = 1.5  # an instrumental section within this of the chorus's loudness is a solo
INTRO_DB = 4.0  # an opening segment this much quieter than the loudest is intro material


@dataclass
class Segment:
    start: int  # bar index
    end: int  # bar index, exclusive
    group: int = -1
    loudness: float = 0.0  # dB
    brightness: float = 0.0  # Hz
    voiced: float | None = None  # share of bars with vocals; None without a vocal stem

    @property
    def bars(self) -> int:
        return self.end - self.start


def describe(features: BarFeatures, segments: list[Segment]) -> None:
    for seg in segments:
        bars = slice(seg.start, seg.end)
        seg.loudness = float(10 * np.log10(np.mean(10 ** (features.loudness[bars] / 10))))
        seg.brightness = float(np.mean(features.brightness[bars]))
        if features.vocal is not None:
            seg.voiced = float(np.mean(features.vocal[bars] > VOICED_DB))


def group_segments(features: BarFeatures, segments: list[Segment]) -> np.ndarray:
    """Set each segment's group and return the segments' distances: average-linkage clustering of
    how well they repeat each other's harmony bar by bar, with differences of timbre and loudness
    keeping apart material that shares chords but not sound."""
    m = len(segments)
    if m == 1:
        segments[0].group = 0
        return np.zeros((1, 1))
    ssm = (1 - BASS_MIX) * harmony_ssm(features) + BASS_MIX * (features.bass @ features.bass.T)
    lo, hi = repeat_scale(ssm[~np.eye(features.n, dtype=bool)])
    repeats = np.clip((ssm - lo) / (hi - lo), 0.0, 1.0)
    distance = np.zeros((m, m))
    for i in range(m):
        for j in range(i + 1, m):
            a, b = segments[i], segments[j]
            sound = _timbre_distance(features, a, b) + abs(a.loudness - b.loudness) / 12.0
            distance[i, j] = distance[j, i] = 1.0 - _repetition(repeats, a, b) + 0.5 * max(0.0, sound - 0.3)
    groups = fcluster(linkage(distance[np.triu_indices(m, 1)], method="average"), t=SAME_GROUP, criterion="distance")
    order = {g: k for k, g in enumerate(dict.fromkeys(groups))}  # numbered by first appearance
    for seg, g in zip(segments, groups):
        seg.group = order[g]
    return distance


def _repetition(repeats: np.ndarray, a: Segment, b: Segment) -> float:
    """How well a and b repeat each other bar by bar, the shorter slid over the longer in whole
    4-bar phrases (a chorus sung twice still matches a single one)."""
    short, long_ = (a, b) if a.bars <= b.bars else (b, a)
    k = np.arange(short.bars)
    offsets = range(0, long_.bars - short.bars + 1, 4) if long_.bars > short.bars else (0,)
    return max(float(repeats[short.start + k, long_.start + offset + k].mean()) for offset in offsets)


def _timbre_distance(features: BarFeatures, a: Segment, b: Segment) -> float:
    ma = features.timbre[a.start : a.end].mean(axis=0)
    mb = features.timbre[b.start : b.end].mean(axis=0)
    return float(np.linalg.norm(ma - mb) / np.sqrt(features.timbre.shape[1]))


def label_segments(features: BarFeatures, segments: list[Segment]) -> list[str]:
    """One label per segment, by the rules in ``udfs.sections``' docstring."""
    describe(features, segments)
    distance = group_segments(features, segments)
    return _Labeller(segments, distance).run()


class _Labeller:
    def __init__(self, segments: list[Segment], distance: np.ndarray):
        self.segs = segments
        self.distance = distance
        self.m = len(segments)
        self.labels = [""] * self.m
        self.members: dict[int, list[int]] = {}
        for k, seg in enumerate(segments):
            self.members.setdefault(seg.group, []).append(k)
        # a group made only of the first and last segments is intro/outro material
        self.repeated = [g for g, ks in self.members.items() if len(ks) >= 2 and not set(ks) <= {0, self.m - 1}]
        self.first_body = 1 if self.m > 2 and segments[0].group not in self.repeated else 0
        self.loudest = max(seg.loudness for seg in segments)

    def loudness(self, g: int) -> float:
        ks = self.members[g]
        return float(np.average([self.segs[k].loudness for k in ks], weights=[self.segs[k].bars for k in ks]))

    def assign(self, g: int | None, label: str) -> None:
        if g is not None:
            for k in self.members[g]:
                if not self.labels[k]:
                    self.labels[k] = label

    def run(self) -> list[str]:
        chorus, verse = self.chorus_and_verse()
        self.assign(chorus, "chorus")
        self.assign(verse, "verse")
        self.pre_choruses()
        self.ends()
        self.rest(chorus, verse)
        self.solos_by_voice()
        return self.labels

    def chorus_and_verse(self) -> tuple[int | None, int | None]:
        """The chorus and verse groups (either may be None)."""
        m, segs, members = self.m, self.segs, self.members
        body_start = self.first_body
        last_body = m - 2 if m > 2 else m - 1
        # intro material may come back (as a bridge, a break); it is not what a chorus is made of
        quiet_start = segs[0].bars <= 8 and segs[0].loudness < self.loudest - INTRO_DB
        body_groups = [g for g in self.repeated if not (quiet_start and 0 in members[g])]
        if len(body_groups) == 1 and self.opens_the_song(body_groups[0]):
            # one repeated group that opens the song proper, after at most an intro: a head that
            # returns (AABA, a jazz standard), a verse with no chorus
            return None, body_groups[0]
        if self.repeated:
            # the chorus: loud (1 point per 6 dB), repeated (0.25 a repeat), and where choruses sit:
            # towards the end rather than at the start of the song proper
            def score(g: int) -> float:
                ks = members[g]
                return ((self.loudness(g) - self.loudest) / 6.0 + 0.25 * len(ks)
                        + 0.3 * (last_body in ks or m - 1 in ks) - 0.3 * (body_start in ks))

            chorus = max(self.repeated, key=score)
        else:  # nothing repeats: the loudest segment of the body carries the chorus
            body = [k for k in range(m) if 0 < k < m - 1] or list(range(m))
            chorus = segs[max(body, key=lambda k: segs[k].loudness)].group
        first_chorus = min(members[chorus])

        # the verse: the repeated group that most often leads into a chorus, directly or through
        # one shorter segment; failing that, one that first appears before the chorus
        def lead_ins(g: int) -> int:
            count = 0
            for k in members[g]:
                nxt = [k + 1] + ([k + 2] if k + 2 < m and segs[k + 1].bars <= segs[k].bars else [])
                count += any(j < m and segs[j].group == chorus for j in nxt)
            return count

        others = [g for g in self.repeated if g != chorus]
        if others:
            best = max(others, key=lambda g: (lead_ins(g), len(members[g]), -members[g][0]))
            if lead_ins(best) > 0 or members[best][0] < first_chorus:
                return chorus, best
        return chorus, None

    def opens_the_song(self, g: int) -> bool:
        """Whether only an intro comes before the group's first segment: at most 12 bars, each
        segment INTRO_DB quieter than the group or less than half as long as its first segment."""
        first = self.members[g][0]
        before = self.segs[:first]
        loud, length = self.loudness(g), self.segs[first].bars
        return sum(s.bars for s in before) <= 12 and all(
            s.loudness < loud - INTRO_DB or 2 * s.bars < length for s in before)

    def pre_choruses(self) -> None:
        """Short material between a verse and a chorus: a repeated group of segments of at most 8
        bars found there at least half the time, or a single segment there shorter than the verse."""
        labels, segs, m = self.labels, self.segs, self.m

        def between(k: int) -> bool:
            return 0 < k < m - 1 and labels[k - 1] == "verse" and labels[k + 1] == "chorus"

        for g in self.repeated:
            ks = self.members[g]
            if labels[ks[0]] or not all(segs[k].bars <= 8 for k in ks):
                continue
            if sum(between(k) for k in ks) >= max(1, len(ks) // 2):
                for k in ks:
                    labels[k] = "pre-chorus"
        for k in range(1, m - 1):
            if not labels[k] and between(k) and segs[k].bars < segs[k - 1].bars:
                labels[k] = "pre-chorus"

    def ends(self) -> None:
        """The first segment is the intro unless it is chorus material or a full, loud verse; the
        last is the outro unless it is verse or chorus material."""
        labels, segs, m = self.labels, self.segs, self.m
        if m < 2:
            return
        first = segs[0]
        loud_verse = labels[0] == "verse" and first.bars >= 8 and first.loudness > self.loudest - 6.0
        if labels[0] in ("", "pre-chorus") or (labels[0] == "verse" and not loud_verse):
            labels[0] = "intro"
        if labels[-1] in ("", "pre-chorus") or segs[-1].group == segs[0].group:
            labels[-1] = "outro"

    def rest(self, chorus: int | None, verse: int | None) -> None:
        """Unplaced segments: before the first chorus (or verse), a pre-chorus when shorter than the
        verse it follows and leading into the chorus, else a verse; later, a verse when it nearly
        repeats a verse and leads into a chorus; otherwise a bridge, or a solo when instrumental."""
        labels, segs, m = self.labels, self.segs, self.m
        anchor = chorus if chorus is not None else verse
        first_anchor = min(self.members[anchor]) if anchor is not None else m
        reference = self.loudness(anchor) if anchor is not None else self.loudest
        bright = float(np.median([s.brightness for s in segs]))
        first_verse = min(self.members[verse]) if verse is not None else 0
        verse_loudness = self.loudness(verse) if verse is not None else self.loudest
        has_vocals = _song_has_vocals(segs)
        for k in range(m):
            if labels[k]:
                continue
            nxt = labels[k + 1] if k + 1 < m else ""
            verse_like = any(labels[j] == "verse" and self.distance[k, j] < NEAR_GROUP for j in range(m))
            if 0 < k < first_verse and labels[k - 1] == "intro" and segs[k].loudness < verse_loudness - 2.0:
                labels[k] = "intro"  # the intro goes on, up to a verse that comes back
            elif (0 < k < first_anchor and nxt == "chorus" and labels[k - 1] == "verse"
                  and segs[k].bars < segs[k - 1].bars):
                labels[k] = "pre-chorus"
            elif k < first_anchor or (verse_like and nxt in ("chorus", "pre-chorus")):
                labels[k] = "verse"
            elif _instrumental(segs[k], reference, bright, has_vocals):
                labels[k] = "solo"
            else:
                labels[k] = "bridge"

    def solos_by_voice(self) -> None:
        """With a vocal stem, a verse, chorus or bridge after the first chorus (not the last segment)
        that has no vocals while the song has them is a solo over that section's chords."""
        segs = self.segs
        if not _song_has_vocals(segs):
            return
        first_chorus = next((k for k, lab in enumerate(self.labels) if lab == "chorus"), self.m)
        for k in range(first_chorus + 1, self.m - 1):
            silent = segs[k].voiced is not None and segs[k].voiced < 0.25
            if silent and self.labels[k] in ("verse", "chorus", "bridge"):
                self.labels[k] = "solo"


def _song_has_vocals(segments: list[Segment]) -> bool:
    voiced = [s.voiced for s in segments if s.voiced is not None]
    return bool(voiced) and max(voiced) >= 0.5


def _instrumental(seg: Segment, reference_loudness: float, median_brightness: float, has_vocals: bool) -> bool:
    """A solo rather than a bridge: no vocals where the song has them; without a vocal stem, as
    loud as the chorus (within SOLO_DB) and no darker than the song's median segment (a lead
    instrument on top, where a bridge usually drops back)."""
    if seg.voiced is not None and has_vocals:
        return seg.voiced < 0.25
    return seg.loudness >= reference_loudness - SOLO_DB and seg.brightness >= median_brightness
