"""Scrub what identifies the user from the frames of a Lingma transcript.

Removed: tokens and other credentials (by key, at any depth, and by shape: `pt-…`/`rt-…`,
bearer values, JWTs), cookies, the account's name, ids and organisation (learned from every
account record the frames hold, e.g. the `auth/status` answer, and then removed wherever they
appear), e-mail addresses, the work dir (`<work-dir>`) and the home folder (`~`). Messages are
scrubbed as JSON (keys kept, so the transcript still shows the protocol); text that is not
JSON is scrubbed as text. Text split across two frames (an answer streamed in chunks) is
scrubbed per frame: the doctor's prompt asks for one word, so its answers hold nothing personal.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..jsontext import compact

REDACTED = "<redacted>"
ACCOUNT = "<account>"
EMAIL = "<email>"
TOKEN = "<token>"
WORK_DIR = "<work-dir>"
HOME = "~"

# keys whose (string) values are credentials, wherever they appear: `token`, `refreshToken`,
# `Cosy-MachineToken`, `apiKey`, cookies, login nonces... (not counts such as `limitTokens`)
_SECRET_KEY = re.compile(r"(?i)token|secret|passw|cookie|authori[sz]ation|api[-_]?key|credential"
                         r"|nonce|verifier|challenge|signature|ticket|sessionkey|private[-_]?key")
# the fields of an account record (`auth/status`, `auth/report`): their values are learned
ACCOUNT_FIELDS = ("name", "id", "accountId", "userId", "uid", "yxUid", "orgId", "orgName", "username",
                  "userName", "email", "avatarUrl", "nickname", "nickName", "phone", "mobile", "aliyunId")
# what marks a dict as an account record, rather than any object with a `name`
_ACCOUNT_MARKERS = frozenset({"accountId", "yxUid", "orgId", "refreshToken", "userType", "cloudType",
                              "whitelist", "privacyPolicyAgreed", "expireTime"})
_SHAPES = (
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), EMAIL),
    (re.compile(r"\b(?:pt|rt)-[A-Za-z0-9_\-.]{4,}"), TOKEN),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), TOKEN),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"), r"\1" + TOKEN),
    (re.compile(r"(?i)((?:set-)?cookie\s*[:=]\s*)[^\r\n\"]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)(cosy-machinetoken\s*[:=]\s*)[^\s\"',;]+"), r"\1" + TOKEN),
)
MIN_LEARNED = 2   # shorter account values (one character) are not looked for in the text
MIN_NAME = 4      # a shorter work dir name is too likely to be part of other words


def path_forms(path: Path) -> list[str]:
    """The ways a path appears in frames: as written, resolved, as a `file://` URI, JSON-escaped."""
    forms: set[str] = set()
    for variant in {str(path), os.path.realpath(path)}:
        if len(variant) <= 1:
            continue
        forms.add(variant)
        forms.add(json.dumps(variant)[1:-1])   # backslashes doubled (Windows paths)
        try:
            uri = Path(variant).as_uri()
        except ValueError:
            continue
        forms.add(uri[len("file://"):])         # percent-encoded, as rootUri carries it
    return sorted(forms, key=len, reverse=True)


class Redactor:
    """Learns the account and secrets a run meets, then scrubs messages and text of them."""

    def __init__(self, *, home: Path | None = None, work_dir: Path | None = None,
                 secrets: Iterable[str] = ()) -> None:
        self._paths: list[tuple[str, str]] = []
        if work_dir is not None:
            self._paths += [(form, WORK_DIR) for form in path_forms(work_dir)]
            if len(work_dir.name) >= MIN_NAME:   # the workspace folder's name travels alone too
                self._paths.append((work_dir.name, WORK_DIR))
        if home is not None:
            self._paths += [(form, HOME) for form in path_forms(home)]
        self._paths.sort(key=lambda pair: len(pair[0]), reverse=True)  # the work dir may be under home
        self._values: set[str] = {s for s in secrets if s and len(s) >= MIN_LEARNED}

    def learn(self, message: object) -> None:
        """Remember the account values of every account record inside `message`."""
        if isinstance(message, dict):
            if _ACCOUNT_MARKERS & message.keys():
                for field in ACCOUNT_FIELDS:
                    value = message.get(field)
                    if isinstance(value, str | int) and not isinstance(value, bool):
                        text = str(value).strip()
                        if len(text) >= MIN_LEARNED:
                            self._values.add(text)
            for value in message.values():
                self.learn(value)
        elif isinstance(message, list):
            for item in message:
                self.learn(item)

    def message(self, message: object) -> str:
        """Return a JSON-RPC message, scrubbed, as one line of JSON."""
        return compact(self._scrub(message))

    def _scrub(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self._scrub(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(item, key) for item in value]
        if isinstance(value, str):
            if value and _SECRET_KEY.search(key):
                return REDACTED
            return self.text(value)
        if isinstance(value, int) and not isinstance(value, bool) and str(value) in self._values:
            return ACCOUNT   # an account id sent as a number
        return value

    def text(self, text: str) -> str:
        """Return free text scrubbed: learned values, the work dir and home, then secret shapes."""
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, ACCOUNT)
        for form, replacement in self._paths:
            if form in text:
                text = text.replace(form, replacement)
        for pattern, replacement in _SHAPES:
            text = pattern.sub(replacement, text)
        return text
