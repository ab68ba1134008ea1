r"""Graph models: GNN heads, APPNP propagation (implicit and explicit), propagation histories,
the normalized adjacency, neighbour sampling and link decoders.

Registries (the valid names of each choice, for configuration checks and the CLI):

* :data:`HEAD_KINDS`: kinds of :class:`EndToEndHead`,
* :data:`BACKWARD_INITS`: :obj:`backward_init` choices of :class:`ImplicitPropagation`,
* :data:`GNNS`: names :func:`build_gnn` accepts,
* :data:`DECODERS`: kinds :func:`build_link_decoder` accepts.
"""

from leading.graph.appnp import APPNPPropagation, appnp_iterate
from leading.graph.gnn import GAT, GCN, GNNS, APPNPNet, GraphSAGE, build_gnn
from leading.graph.head import HEAD_KINDS, EndToEndHead, build_head
from leading.graph.history import PropagationHistory
from leading.graph.implicit import BACKWARD_INITS, ImplicitPropagation
from leading.graph.link_decoder import (
    DECODERS,
    DotProductDecoder,
    LinkDecoder,
    MLPDecoder,
    build_link_decoder,
)
from leading.graph.mlp import MLP, MLPHead
from leading.graph.normalization import (
    AdjacencyCache,
    NormalizedAdjacency,
    normalized_adjacency,
)
from leading.graph.sampler import CSRGraph, NeighborSampler, SampledSubgraph, batches

__all__ = [
    # registries
    "HEAD_KINDS",
    "BACKWARD_INITS",
    "GNNS",
    "DECODERS",
    # heads and propagation
    "EndToEndHead",
    "build_head",
    "ImplicitPropagation",
    "APPNPPropagation",
    "PropagationHistory",
    "appnp_iterate",
    "normalized_adjacency",
    "NormalizedAdjacency",
    "AdjacencyCache",
    # downstream GNNs
    "build_gnn",
    "MLPHead",
    "MLP",
    "GCN",
    "GAT",
    "GraphSAGE",
    "APPNPNet",
    # link decoders
    "build_link_decoder",
    "LinkDecoder",
    "DotProductDecoder",
    "MLPDecoder",
    # sampling
    "NeighborSampler",
    "SampledSubgraph",
    "CSRGraph",
    "batches",
]
