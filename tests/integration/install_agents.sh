#!/bin/sh
# Install the pinned agent CLIs the end-to-end tests drive into a cache directory.
# Usage: install_agents.sh DIR    (tests/integration/agents.py runs it when the CLI is missing)
set -eu
DIR=${1:?usage: install_agents.sh DIR}
CODEX_VERSION=0.171.0   # keep in step with CODEX_VERSION in tests/integration/agents.py
CLAUDE_CODE_VERSION=2.1.332   # keep in step with CLAUDE_CODE_VERSION in tests/integration/agents.py
mkdir -p "$DIR"
npm install --prefix "$DIR" --no-audit --no-fund --prefer-offline --save-exact --loglevel=error \
  "@openai/codex@$CODEX_VERSION" "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION"
"$DIR/node_modules/.bin/codex" --version
"$DIR"/node_modules/@anthropic-ai/claude-code-linux-*/claude --version
