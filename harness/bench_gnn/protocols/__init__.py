"""The protocol contract's shared parts: what a protocol receives and returns (:mod:`.base`), the cells
of the evaluators run on a trained model (:mod:`.cells`) and analyses (:mod:`.analyses`).

Protocols themselves are plugins (:class:`bench_gnn.specs.ProtocolSpec`, hook ``bench_protocols``);
the core names none of them.
"""
