"""The FakeEngine's kit: ``ORCH_ENGINE=fake`` (the engine itself is orchestrator.core.fake)."""
