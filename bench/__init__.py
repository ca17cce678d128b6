"""Benchmarks of the orchestrator against the real engine (``make bench``).

* :mod:`bench.provisioning` - apply 1,000 tenants x 100 extensions from scratch,
  then changes to one tenant, while SIP phones (SIPp) register and call.
* :mod:`bench.ivr` - the same IVR as a Python flow and as native dialplan, under
  the same SIPp load: calls/s of each, failed calls, event-to-command latency.
* :mod:`bench.harness` - the ``bench`` Asterisk instance and the whole service,
  started for a run and always stopped.
* :mod:`bench.traffic` - background calls and registrations, REGISTER latency.

Results go to stdout, one ``name: value unit`` a line; progress goes to stderr.
"""
