#!/bin/sh
# Install the pinned Claude Code CLI the end-to-end tests drive into a cache directory.
# Usage: install_claude_code.sh DIR   (tests/integration/claude_code.py runs it when the CLI is missing)
# Its install script is skipped: the tests run the platform binary, which needs no set-up.
set -eu
DIR=${1:?usage: install_claude_code.sh DIR}
CLAUDE_CODE_VERSION=2.1.332   # keep in step with CLAUDE_CODE_VERSION in tests/integration/claude_code.py
mkdir -p "$DIR"
npm install --prefix "$DIR" --no-audit --no-fund --prefer-offline --save-exact --ignore-scripts --loglevel=error \
  "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION"
"$DIR"/node_modules/@anthropic-ai/claude-code-linux-*/claude --version
