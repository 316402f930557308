"""The session owns every store it hands out: the writer's, the readers', replaced ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_vector_search.config import load_config
from mcp_vector_search.errors import ClosedError, IndexNotFoundError
from mcp_vector_search.indexer import Indexer
from mcp_vector_search.lifecycle import Session


def test_readers_are_apart_from_the_writer_and_closed_with_the_session(
    sample_project: Path, fake_env: None
) -> None:
    session = Session(sample_project, load_config(sample_project))
    with pytest.raises(IndexNotFoundError):
        session.reader()  # nothing to read before the first run
    session.acquire_writer()
    writer = session.store(writable=True)
    Indexer(sample_project, session.config, writer, session.embedder).run(embed=False)
    reader = session.reader()
    assert reader is not writer and session.reader() is reader
    assert reader.chunk_catalog()
    renewed = session.reader(renew=True)
    assert renewed is not reader
    assert reader.chunk_catalog() == renewed.chunk_catalog()  # the old one stays usable
    session.close()
    for store in (writer, reader, renewed):
        with pytest.raises(ClosedError):
            store.chunk_catalog()
    with pytest.raises(ClosedError):
        session.reader()
