"""The subpackage's public names and registries."""

import leading.graph as graph
from leading.config import Config


def test_registries():
    assert graph.HEAD_KINDS == ("implicit", "appnp", "gcn", "sage", "mlp")
    assert graph.BACKWARD_INITS == ("grad", "zero", "history", "damped")
    assert graph.GNNS == ("gcn", "gat", "sage", "appnp", "mlp")
    assert graph.DECODERS == ("dot", "mlp")
    for name in graph.GNNS:
        graph.build_gnn(name, 4, 8, 2)
    for kind in graph.DECODERS:
        graph.build_link_decoder(kind, 4)
    for kind in graph.HEAD_KINDS:
        graph.EndToEndHead(kind, 5, 4, 8, 2)


def test_exports():
    assert sorted(graph.__all__) == sorted(set(graph.__all__))
    for name in graph.__all__:
        assert getattr(graph, name) is not None, name


def test_one_default_number_of_propagation_steps():
    """Config, the head and both propagations agree on the default L (it was 2, 3 and 10)."""
    steps = Config().prop_steps
    assert steps == 10
    head = graph.EndToEndHead("implicit", 5, 4, 8, 2)
    assert head.prop.num_steps == steps
    assert graph.EndToEndHead("appnp", 5, 4, 8, 2).prop.num_steps == steps
    assert graph.ImplicitPropagation().num_steps == steps
    assert graph.APPNPPropagation().num_steps == steps
