"""A real llama.cpp HTTP server (xllamacpp) in its own process, to be killed by tests."""

from __future__ import annotations

import sys
import time


def main() -> None:
    """argv: port, parallel slots, context per slot[, chat template file]."""
    import xllamacpp

    from personae.engines.llamacpp import default_model_path

    port, parallel, ctx = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    params = xllamacpp.CommonParams()
    params.model.path = str(default_model_path())
    params.port = port
    params.n_parallel = parallel
    params.n_ctx = ctx * parallel
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 1
    params.cont_batching = True
    params.verbosity = -1
    if len(sys.argv) > 4:  # a chat template (Jinja) file, e.g. one demanding alternation
        params.use_jinja = True
        with open(sys.argv[4], encoding="utf-8") as template:
            params.chat_template = template.read()
    server = xllamacpp.Server(params)
    print(server.listening_address, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
