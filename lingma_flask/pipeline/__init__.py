"""The face-agnostic pipeline: a conversation in, Lingma's answer out as common events.

`conversation` is what every face parses a request into; `job` resolves the model
(`targets`), renders the prompt (`prompt`, tools' contract in `tools/`), asks the pool and
yields `events` (text, reasoning, checked tool calls, the finish) with stop strings and token
limits applied (`output`, `tokens`). Faces in `api/` turn those events into their wire format.
"""
