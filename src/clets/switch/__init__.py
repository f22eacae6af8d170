"""The message switch (spec/switch.md): config, journal, routing, engine, audit.

Public API::

    from clets.switch import Switch, load_config
    cfg = load_config("switch.toml")
    sw = Switch(cfg, links={"lapd": link, ...}, clock=..., rng=...)
    await sw.start(); ...; await sw.stop(drain=True)
"""

from .clock import Clock, ManualClock, SystemClock
from .config import ConfigProblems, SwitchConfig, load_config, parse_config
from .engine import Switch
from .journal import Journal

__all__ = ["Clock", "ConfigProblems", "Journal", "ManualClock", "Switch", "SwitchConfig",
           "SystemClock", "load_config", "parse_config"]
