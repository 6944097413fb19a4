"""A Python session for the docs tests: runs code blocks sent on stdin, answers on a pipe.

Requests (one JSON object a line): ``{"op": "reset", "cwd": DIR}`` starts a fresh
namespace in DIR (which goes first on sys.path, as in a REPL started there);
``{"op": "chdir", "cwd": DIR}`` moves the session (a ``cd`` in a shell block);
``{"op": "exec", "code": ..., "filename": ..., "line": N}`` runs a block whose
first line is line N+1 of ``filename``, so tracebacks point into the markdown.
Answers go to the file descriptor given as argv[1], never to stdout: what the
blocks print (and what TensorRT logs) cannot garble them.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback


def main() -> None:
    answers = os.fdopen(int(sys.argv[1]), "w")
    namespace: dict = {}
    for raw in sys.stdin:
        req = json.loads(raw)
        if req["op"] in ("reset", "chdir"):
            if sys.path[:1] == [os.getcwd()]:
                sys.path.pop(0)
            os.chdir(req["cwd"])
            sys.path.insert(0, req["cwd"])
            if req["op"] == "reset":
                namespace = {"__name__": "__main__", "__builtins__": __builtins__}
            answer = {"ok": True}
        else:
            buf = io.StringIO()
            try:
                code = compile("\n" * req["line"] + req["code"], req["filename"], "exec")
                with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                    exec(code, namespace)
                answer = {"ok": True}
            except BaseException:  # noqa: BLE001 - SystemExit from a block is a failure too
                answer = {"ok": False, "error": traceback.format_exc(limit=-8)}
            answer["output"] = buf.getvalue()[-6000:]
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
