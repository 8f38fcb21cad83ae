"""Free-text genre tags (ID3 TCON, Vorbis GENRE, MP4 ©gen) mapped onto the genre vocabulary.

How a tag is read:

1. A multi-valued tag is split on ``; / | , NUL`` and its values are tried in order; the first
   value that names a genre of the vocabulary wins ('Hip-Hop/Rap' -> hip-hop, 'Rock; Pop' -> rock).
2. A value is lower-cased and its punctuation unified: '&' and '+' and a lone 'n' read as 'and',
   hyphens, dots and underscores as spaces ('R&B' -> 'r and b', 'Drum-n-Bass' -> 'drum and bass',
   "Rock 'n' Roll" -> 'rock and roll'); the words 'music' and 'songs' are dropped.
3. A whole value found in ``PHRASES`` (compound names whose head word misleads) maps directly.
4. Otherwise the words are read from the last one backwards, because English genre names put the
   head noun last ('pop rock' is rock, 'indie pop' is pop, 'melodic death metal' is metal): the
   first trigram, bigram or word found in ``ALIASES`` decides.
5. Then a word that ends like a genre ('deathmetal', 'synthwave', 'metalcore'), see ``SUFFIXES``.
6. ID3v1 genre numbers ('(17)', '17') are resolved to their names first ('Rock').
7. Placeholders ('Unknown', 'Genre', 'N/A', 'Misc', ...) and empty tags carry no information and
   give None; any other non-empty value that matches nothing gives 'other'.
"""

from __future__ import annotations

import re

# Canonical genre -> the names (after step 2) that mean it. A name appears under one genre only.
ALIASES_BY_GENRE: dict[str, tuple[str, ...]] = {
    "pop": ("pop", "synthpop", "electropop", "europop", "kpop", "k pop", "jpop", "j pop", "cpop",
            "teen pop", "top 40", "adult contemporary", "power pop", "bubblegum", "schlager"),
    "rock": ("rock", "alternative", "alternrock", "alt rock", "indie", "punk", "grunge", "emo",
             "hardcore", "shoegaze", "britpop", "new wave", "post punk", "rock and roll", "rocknroll",
             "rockabilly", "psychedelic", "psychedelia", "prog", "progressive", "surf", "garage rock",
             "stoner", "krautrock", "math rock"),
    "hip-hop": ("hip hop", "hiphop", "rap", "trap", "grime", "drill", "gangsta", "crunk", "boom bap",
                "horrorcore", "dirty south", "g funk"),
    "jazz": ("jazz", "bebop", "bop", "hard bop", "swing", "big band", "fusion", "dixieland", "ragtime",
             "jazz funk", "bossa nova"),
    "electronic": ("electronic", "electronica", "electro", "edm", "house", "techno", "trance",
                   "dubstep", "brostep", "drum and bass", "dnb", "d and b", "jungle", "breakbeat",
                   "breaks", "ambient", "idm", "downtempo", "chillout", "chill out", "trip hop",
                   "triphop", "dance", "eurodance", "disco", "rave", "hardstyle", "uk garage",
                   "industrial", "chiptune", "glitch", "big beat", "electroclash", "club"),
    "classical": ("classical", "baroque", "orchestral", "orchestra", "opera", "operetta", "symphony",
                  "symphonic", "chamber", "choral", "choir", "concerto", "sonata", "string quartet",
                  "early music", "renaissance", "medieval", "neoclassical", "romantic era",
                  "contemporary classical", "art song", "lieder"),
    "country": ("country", "bluegrass", "americana", "honky tonk", "honkytonk", "western",
                "alt country", "nashville", "outlaw country", "western swing", "country and western"),
    "folk": ("folk", "singer songwriter", "singer and songwriter", "acoustic", "celtic", "traditional",
             "folklore", "sea shanty", "shanty", "irish folk"),
    "r&b": ("r and b", "rnb", "randb", "rhythm and blues", "soul", "funk", "neo soul", "motown",
            "doo wop", "doowop", "new jack swing", "quiet storm", "contemporary r and b", "gospel soul"),
    "metal": ("metal", "heavy metal", "thrash", "doom", "djent", "grindcore", "metalcore", "deathcore",
              "sludge", "nwobhm", "black metal", "death metal", "nu metal"),
    "blues": ("blues", "delta blues", "chicago blues", "boogie woogie", "jump blues", "shuffle"),
    # Real genres outside the vocabulary: they stop the search (so 'reggae rock' is not read as
    # 'rock' twice removed) and map to 'other'.
    "other": ("other", "reggae", "ska", "dancehall", "reggaeton", "latin", "salsa", "samba", "tango",
              "flamenco", "world", "world music", "gospel", "christian", "new age", "soundtrack",
              "score", "film score", "game", "video game", "comedy", "spoken word", "audiobook",
              "podcast", "children", "childrens", "kids", "christmas", "holiday", "easy listening",
              "lounge", "vocal", "oldies", "instrumental", "cabaret", "musical", "showtunes",
              "show tunes", "chanson", "afrobeat", "afrobeats", "polka", "ethnic", "noise",
              "experimental", "avant garde", "sound clip", "meditation"),
}

# Compound names whose head-word reading is wrong: matched on the whole (normalised) value.
PHRASES: dict[str, str] = {
    "rock opera": "rock",
    "pop punk": "rock",
    "pop rock": "rock",
    "jazz funk": "jazz",
    "jazz and funk": "jazz",
    "soul jazz": "jazz",
    "acid jazz": "jazz",
    "electro swing": "electronic",
    "trip hop": "electronic",
    "blues rock": "rock",
    "country rock": "rock",
    "folk rock": "rock",
    "funk rock": "rock",
    "rhythm and blues": "r&b",
    "new jack swing": "r&b",
    "western swing": "country",
    "dance pop": "pop",
    "lo fi hip hop": "hip-hop",
    "new wave": "rock",
    "hardcore techno": "electronic",
}

# A word that ends like this is read as that genre when no alias matched ('deathmetal').
SUFFIXES: tuple[tuple[str, str], ...] = (
    ("metal", "metal"), ("core", "metal"), ("rock", "rock"), ("punk", "rock"), ("pop", "pop"),
    ("house", "electronic"), ("step", "electronic"), ("wave", "electronic"), ("techno", "electronic"),
    ("jazz", "jazz"), ("blues", "blues"), ("folk", "folk"), ("hop", "hip-hop"),
)

# Values that say nothing about the genre, compared with case and punctuation removed ('N/A' -> 'na').
PLACEHOLDERS = frozenset({
    "unknown", "unknowngenre", "none", "null", "na", "genre", "misc", "miscellaneous", "various",
    "default", "undefined", "unclassified", "untitled", "general", "tbd", "nogenre", "",
})

ALIASES: dict[str, str] = {name: genre for genre, names in ALIASES_BY_GENRE.items() for name in names}
_STOP_WORDS = frozenset({"music", "songs", "song", "style"})
_SPLIT = re.compile(r"[;/|,\x00]+")
_ID3V1_NUMBER = re.compile(r"^\(?(\d{1,3})\)?$")


def normalize_genre_tag(tag: str | None) -> str | None:
    """The vocabulary genre a free-text tag names; None for no tag or a placeholder."""
    if tag is None:
        return None
    if not isinstance(tag, str):
        raise ValueError(f"a genre tag is text or None, got {type(tag).__name__} {tag!r}")
    tag = _resolve_id3v1(tag.strip())
    if _compact(tag) in PLACEHOLDERS:  # before splitting: 'N/A' is one placeholder
        return None
    saw_value = False
    for value in _SPLIT.split(tag):
        if _compact(value) in PLACEHOLDERS:
            continue
        words = _words(value)
        saw_value = True
        genre = _genre_of(words)
        if genre is not None and genre != "other":
            return genre
    return "other" if saw_value else None


def _resolve_id3v1(tag: str) -> str:
    """'(17)' or '17' -> 'Rock' (mutagen's ID3v1 genre list); anything else unchanged."""
    if not _ID3V1_NUMBER.match(tag):
        return tag
    from mutagen.id3 import TCON

    genres = TCON(encoding=3, text=[tag]).genres
    return genres[0] if genres else tag


def _compact(value: str) -> str:
    return re.sub(r"[^a-z0-9]", "", value.lower())


def _words(value: str) -> list[str]:
    text = value.lower().replace("&", " and ").replace("+", " and ")
    text = re.sub(r"['`\u2019]", "", text)  # rock 'n' roll -> rock n roll
    text = re.sub(r"[-_.:!?()\[\]\"]", " ", text)
    words = [w for w in text.split() if w not in _STOP_WORDS]
    return ["and" if w == "n" else w for w in words]


def _genre_of(words: list[str]) -> str | None:
    whole = " ".join(words)
    if whole in PHRASES:
        return PHRASES[whole]
    for end in range(len(words), 0, -1):  # head noun last: read from the end
        for size in (3, 2, 1):
            if end - size >= 0:
                name = " ".join(words[end - size : end])
                if name in PHRASES:
                    return PHRASES[name]
                if name in ALIASES:
                    return ALIASES[name]
    for word in reversed(words):
        for suffix, genre in SUFFIXES:
            if word.endswith(suffix) and len(word) > len(suffix):
                return genre
    return "other" if words else None
