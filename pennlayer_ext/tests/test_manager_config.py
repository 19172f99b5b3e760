"""PennLayerApp.manager_class: the local manager, or the node service's client."""

import pytest
from traitlets import TraitError

from pennlayer_ext.app import PennLayerApp
from pennlayer_ext.client import NodeServiceClient, ServiceError
from pennlayer_ext.core import LayerManager


def test_the_local_manager_is_the_default(tmp_path, monkeypatch):
    monkeypatch.delenv("PENNLAYER_NODE_SERVICE", raising=False)
    app = PennLayerApp(store_root=str(tmp_path / "store"))
    assert app.manager_class is LayerManager
    assert app.owns_store
    assert isinstance(app.create_manager(), LayerManager)


def test_a_node_service_url_makes_the_client_the_manager(tmp_path, monkeypatch):
    monkeypatch.setenv("PENNLAYER_NODE_SERVICE_TOKEN", "t0k")
    app = PennLayerApp(node_service_url="http://127.0.0.1:10101/services/pennlayer")
    assert app.manager_class is NodeServiceClient
    assert not app.owns_store
    client = app.create_manager()
    assert isinstance(client, NodeServiceClient)
    assert client.url == "http://127.0.0.1:10101/services/pennlayer/"
    assert client.token == "t0k"
    # No store was opened or made anywhere by a client
    assert not (tmp_path / "store").exists()


def test_the_environment_variable_names_the_service(monkeypatch):
    monkeypatch.setenv("PENNLAYER_NODE_SERVICE", "https://node.example:8443/")
    assert PennLayerApp().manager_class is NodeServiceClient


@pytest.mark.parametrize(
    "url",
    ["ftp://host/", "file:///srv/pennlayer", "http:///x", "http://u:p@host/", "http://h/?a=1"],
)
def test_a_bad_node_service_url_is_refused_with_the_setting_named(url):
    with pytest.raises(TraitError, match=r"PennLayerApp\.node_service_url"):
        PennLayerApp(node_service_url=url)


def test_a_client_class_without_a_url_is_refused(monkeypatch):
    monkeypatch.delenv("PENNLAYER_NODE_SERVICE", raising=False)
    app = PennLayerApp(manager_class=NodeServiceClient)
    with pytest.raises(TraitError, match=r"set PennLayerApp\.node_service_url"):
        app.create_manager()


def test_a_class_that_is_no_layer_manager_is_refused():
    with pytest.raises(TraitError):
        PennLayerApp(manager_class=dict)


def test_an_unreachable_service_is_a_clear_503():
    client = NodeServiceClient("http://127.0.0.1:9/")
    with pytest.raises(ServiceError, match="cannot be reached") as info:
        client.list_layers()
    assert info.value.status == 503
