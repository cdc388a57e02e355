"""Tool calling and structured output, emulated through the prompt. Pure: no Flask, no I/O.

* spec: the tool, call and tool-choice values the API faces build;
* contract: the prompt text for offered tools, calls, results and repair turns;
* parser: split a streamed answer into prose and tool-call blocks;
* check: validate calls and JSON answers against their JSON Schemas (complexity: the limits
  a schema must meet; bounded, budget, canonical: checks whose cost stays bounded; lru: the cache);
* eventlog: the log lines about tool events, a bounded number per request.
"""
