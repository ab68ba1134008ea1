"""Fine-tune an LM with LEADING on a graph built from your own lists of texts and edges.

    HF_HUB_OFFLINE=1 python examples/own_graph.py
"""

import torch

import leading

# Your data: one text per node, undirected edges as (u, v) pairs, integer labels.
texts = [f"paper {i} about {'graphs' if i % 2 else 'language models'}" for i in range(60)]
edges = torch.tensor([[i, (i + 2) % 60] for i in range(60)]).t()
labels = torch.tensor([i % 2 for i in range(60)])

graph = leading.TextAttributedGraph(texts, edges, y=labels, name="toy")
result = leading.finetune(
    graph, lm="minilm", split="per_class:5:10:20", epochs=1, head_epochs=20, batch_size=8
)
print(result.embeddings.shape, "best epoch", result.best_epoch, "end-to-end", result.e2e)
result.encoder.save_pretrained("runs/toy_model")  # loadable by transformers.AutoModel
