"""Essentia's algorithms, imported once with its chatty INFO log switched off."""

import essentia

essentia.log.infoActive = False

import essentia.standard as standard  # noqa: E402  (the log switch must come first)

__all__ = ["standard"]
