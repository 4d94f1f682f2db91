import pytest
from shop.app import create_app


@pytest.fixture(scope="session")
def client():
    return create_app().test_client()
