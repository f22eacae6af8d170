"""Nlets NIEM XML (spec/formats.md 3): the ``niem`` codec, its element table and its XSD.

>>> from clets.codecs import get_codec
>>> niem = get_codec("niem")
>>> msg = get_codec("ncic").decode(b"QV.CA0349999.LIC/7ABC123.LIS/CA")  # doctest: +SKIP
>>> niem.decode(niem.encode(msg)).vehicle.plate                          # doctest: +SKIP
'7ABC123'
"""

from ._codec import NiemCodec, default_mapping, load_schema
from ._safe import DEFAULT_LIMITS, Limits

__all__ = ["DEFAULT_LIMITS", "Limits", "NiemCodec", "default_mapping", "load_schema"]
