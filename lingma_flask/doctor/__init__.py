"""The deployment doctor: run the official SDKs' own parsers against a running gateway.

`python -m lingma_flask doctor --base-url URL` asks every API face (chat, responses, Anthropic
messages, legacy completions) a few small questions, tool calls included, through the `openai`
and `anthropic` packages, and prints one pass/fail row per check. It talks HTTP only, so it
checks any deployment: the simulator, a real Lingma, a gateway behind nginx.

`doctor --lingma` checks the user's own Lingma instead, with no gateway in between
(lingma_check.py): start or attach, `initialize`, login, models, one short chat each way the
runtime speaks, and a redacted transcript of every frame for a bug report.
"""
