"""The HTTP API of the switch (issue 15): CAD, RMS, mobile and body-camera platforms reach
the switch from their own software over HTTPS, with an OpenAPI contract they can generate a
client from.

Why a package of its own, above ``switch/``: the API is one more origin link of the switch
(:class:`clets.api.link.ApiLink`): requests enter the engine as
:class:`clets.switch.links.Received` exactly as a TCP origin's frames do, and answers leave
through the link's ``send``, so every API client gets step 2's checks, the journal, routes,
dedup, correlation, timeouts and audit with nothing in the switch knowing about HTTP.  The
switch never imports this package.

What it holds: ``config`` (the ``[api]`` table), ``link`` (the switch link), ``events`` (the
hub answers are published to), ``app`` (the FastAPI application and its routes),
``problems`` (RFC 9457 problem details), ``server`` (uvicorn in the switch's event loop).
"""
