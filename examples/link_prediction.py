"""Link prediction with LEADING on a graph built from your own texts and edges: split the edges,
fine-tune the LM with edges as targets, then score a downstream GCN link predictor.

    HF_HUB_OFFLINE=1 python examples/link_prediction.py

The same protocol on Cora from the command line (one seed, the "high" 85/5/10 split):

    leading run --task link --link-split high --seeds 1 --downstream gcn
"""

import torch

from leading import TextAttributedGraph
from leading.config import Config
from leading.data.link_splits import make_link_split
from leading.eval import LinkPredictorConfig, evaluate_link_downstream
from leading.text import TextEncoder
from leading.train import LinkTrainer

torch.set_num_threads(1)  # a toy graph is many tiny ops: one thread is fastest on a busy CPU

# Your data: one text per node, undirected edges. Papers cite papers of their own topic.
topics = ["graph neural networks", "language models", "protein folding"]
texts = [f"paper {i} about {topics[i % 3]}" for i in range(60)]
edges = torch.tensor([[i, (i + 3 * k) % 60] for i in range(60) for k in (1, 2)]).t()
graph = TextAttributedGraph(texts, edges, name="toy")

cfg = Config(task="link", epochs=1, head_epochs=20, batch_size=8, link_edges_per_epoch=64,
             progress=False)
split = make_link_split(graph, "high", seed=0, num_neg_targets=20)  # 85/5/10, fixed negatives
print(split)

encoder = TextEncoder.from_pretrained("minilm", max_length=32)
result = LinkTrainer(graph, split, encoder, cfg, seed=0).fit()  # LEADING, edges as targets
print("end-to-end head, test:", {k: round(v, 3) for k, v in result.e2e.items() if "test" in k})

scores = evaluate_link_downstream(result.embeddings, split, ["gcn"], seed=0,
                                  config=LinkPredictorConfig(hits_k=(1, 10)))
print("downstream GCN, test:", {k: round(v, 3) for k, v in scores["gcn"]["test"].items()})
