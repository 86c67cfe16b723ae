"""Everything that moves bytes between files and memory, and the only place that uses threads,
memory maps, `preadv`, `copy_file_range`, `sync_file_range` or block sizes:

- `files`: the file-system rules every reader and writer follows (stay inside the model's folder,
  write atomically with write-back started as bytes go out, copy ranges file to file);
- `blocks`: block sizes and the blocked transposes (pure NumPy, no threads: the IR computes a
  permuted weight's `numpy()` with them);
- `ahead`: the second thread: `ahead` prepares the next piece while the one before is used,
  `alongside` runs one job beside the caller's (`check` reads the source while onnxruntime builds);
- `streams`: a lazy tensor's C-order contents piece by piece, as the writer takes them (its
  reader's own pieces, a permutation in blocks, a row gather read with `preadv`);
- `laid_out`: `write_laid_out(path, head, pieces)`, which writes a file of bytes and tensors at
  their offsets, copying tensors that are runs of their source file on a second thread.

The IR (`netinspect.ir`) only describes a lazy tensor (`TensorSource`); this package moves it. The
layout rule (`netinspect.layout`) imports nothing from here but the pure `blocks`, through the IR.
Measured effects of these choices are in benchmarks/README.md.
"""
