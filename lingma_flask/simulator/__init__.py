"""A stand-alone fake Tongyi Lingma for tests, benchmarks and the no-install demo.

Run it with `python -m lingma_flask.simulator start --workDir D [--socketPort P]
[--httpPort H]`. It speaks the classic Lingma JSON-RPC protocol over a WebSocket with LSP
`Content-Length` framing (docs/simulator.md lists every knob, marker and fault). Plain
threads only: no Flask, no asyncio.
"""

VERSION = "2.11.1-sim"
