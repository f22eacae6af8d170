"""Wire formats, each ``decode(bytes) -> Message`` / ``encode(Message) -> bytes``.

>>> from clets.codecs import get_codec
>>> msg = get_codec("ncic").decode(b"QV.CA0349999.LIC/7ABC123.LIS/CA")
>>> msg.vehicle.plate
'7ABC123'
"""

from .base import Codec, available, get_codec, register

__all__ = ["Codec", "available", "get_codec", "register"]
