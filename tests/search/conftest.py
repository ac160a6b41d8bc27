from tests.samples.conftest import alice, bob, library, library_client

__all__ = ["alice", "bob", "library", "library_client"]
