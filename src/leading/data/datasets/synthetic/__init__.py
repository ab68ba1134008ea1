r"""Synthetic text-attributed graphs of any size: power-law degrees, homophilous edges and texts
drawn from class-conditioned vocabularies, so that both the text and the structure carry signal.

Two entry points build the same graph for the same arguments:

* :func:`synthetic_graph` builds it in memory (``load_dataset("synth:...")`` and
  ``--dataset synth:...`` call it);
* :func:`write_synthetic` streams it to a directory in the documented format
  (``nodes.jsonl[.gz]``, ``edges.csv[.gz]``, ``classes.json``, plus ``synth.json`` with the
  parameters), chunk by chunk, so that 10M nodes fit (``leading data synth``).

**Specification string** (``--dataset``)::

    synth:N[,key=value,...]

``N`` is the number of nodes (``2000``, ``100_000``, ``100k``, ``1M``); keys are ``classes``,
``degree`` (average undirected degree), ``homophily``, ``seed``, ``signal``, ``power_law``,
``max_degree``, ``class_skew``, ``min_words``, ``max_words``, ``class_words``, ``common_words``
(or the keyword names of :func:`synthetic_graph`). Example: ``synth:1M,classes=40,degree=12``.
The graph has no canonical split: use ``--split per_class`` or ``60/20/20``.

**Model.** Every quantity is a pure function of ``(seed, node, slot)`` through a counter-based
hash (SplitMix64), so the output does not depend on the chunk size, and chunks are generated
independently with vectorised numpy (no Python loop per node).

* *Classes*: node :math:`i` gets class :math:`c` with probability
  :math:`\propto (c+1)^{-\text{class\_skew}}` (0: balanced; 0.5, the default, a mild skew).
* *Degrees*: each node draws an out-degree :math:`k_i = \min(\lfloor s\,U^{-1/(\gamma-1)}
  \rfloor, k_{\max})` (a discrete Pareto law of exponent :math:`\gamma` = ``power_law``, capped
  at ``max_degree``, default :math:`\sqrt{N\,D}`), with the scale :math:`s` solved so that the
  mean out-degree is :math:`D/2`; the undirected average degree is then :math:`D` (a little less
  after self-loops and duplicate pairs are dropped).
* *Edges*: each of the :math:`k_i` edges of node :math:`i` picks its other endpoint among the
  nodes of :math:`i`'s class with probability :math:`H` (``homophily``), else among the nodes of
  the other classes, in both cases with probability proportional to :math:`k_j + 1`
  (preferential attachment, Chung--Lu style), so hubs have high in- and out-degree and the
  fraction of intra-class edges is :math:`\approx H`.
* *Texts*: a vocabulary of pronounceable pseudo-words (syllables, so real tokenizers split them
  into known pieces): ``common_words`` shared words and ``class_words`` words per class. Node
  :math:`i` has between ``min_words`` and ``max_words`` words; its signal strength
  :math:`\sigma_i` is uniform on :math:`[0, 2\,\text{signal}]` (capped at 1), and each word is,
  with probability :math:`\sigma_i`, a word of its class's vocabulary (Zipfian), else a word of
  the shared distribution (Zipfian over all words, common words first, so other classes' words
  appear as noise). Some nodes are thus nearly uninformative and need their neighbours: a
  bag-of-words classifier beats chance clearly but not perfectly (TF-IDF and logistic regression
  on 2,000 nodes, 5 classes, the defaults: about 73% with 1,000 training texts, 69% with 20 per
  class, against 30% for the majority class).
"""

from __future__ import annotations

from leading.data.datasets.synthetic.build import load_synthetic, synthetic_graph, write_synthetic
from leading.data.datasets.synthetic.cli import register_cli, synth_main
from leading.data.datasets.synthetic.spec import SPEC_FORM, SynthSpec, parse_synth_spec

__all__ = [
    "SynthSpec",
    "parse_synth_spec",
    "synthetic_graph",
    "load_synthetic",
    "write_synthetic",
    "register_cli",
    "synth_main",
    "SPEC_FORM",
]
