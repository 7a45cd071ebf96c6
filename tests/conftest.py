import os

import pytest
import torch

from tests.fixtures import prepare_tiny

torch.set_num_threads(1)  # the suite runs on 2 shared cores; one thread per test process is fastest


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """A DMREC_DATA root holding the prepared `tiny` (with text) and `tiny-notext` datasets."""
    root = tmp_path_factory.mktemp("dmrec-data")
    prepared = root / "prepared"
    prepare_tiny(prepared, name="tiny")
    prepare_tiny(prepared, name="tiny-notext", with_text=False)
    previous = os.environ.get("DMREC_DATA")
    os.environ["DMREC_DATA"] = str(root)
    yield root
    if previous is None:
        os.environ.pop("DMREC_DATA", None)
    else:
        os.environ["DMREC_DATA"] = previous
