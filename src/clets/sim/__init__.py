"""Simulated back-ends (``clets sim``): DMV, NCIC, WPS, SVS, CARPOS, CCH and NLETS answering
from a deterministic synthetic data set, with latency, error, drop, duplicate and outage faults.

    from clets.sim import SimNetwork
    async with SimNetwork(seed=1975, base_port=0) as net:
        host, port = net.address("DMV")

See docs/sim.md.
"""

from .backends import ACK_KEY, BACKENDS, Backend, Faults, Reply, Responder, make_backend
from .dataset import DEFAULT_SEED, WELL_KNOWN, Dataset, generate, load_dataset
from .server import PORT_OFFSETS, WIRES, BackendServer, SimNetwork, Wire, answer_offline

__all__ = [
    "ACK_KEY",
    "BACKENDS",
    "DEFAULT_SEED",
    "PORT_OFFSETS",
    "WELL_KNOWN",
    "WIRES",
    "Backend",
    "BackendServer",
    "Dataset",
    "Faults",
    "Reply",
    "Responder",
    "SimNetwork",
    "Wire",
    "answer_offline",
    "generate",
    "load_dataset",
    "make_backend",
]
