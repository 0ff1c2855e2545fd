"""Compiler from float torch.nn models to integer tensor programs (post-training static
quantization). The only part of node.program that imports torch (lower.py, examples.py);
quantize.py and builder.py are numpy-only."""

from node.program.compiler.config import CompileConfig

__all__ = ["CompileConfig"]
