"""Training the memory model to write clues (MemoRAG section 2.3.2): data, SFT with LoRA, RLGF, adapters.

  data.py            input QA files, the train/held-out split, SFT targets, the data directory's files
  build.py           build-data: sample clue sets from the memory, score each by the answer it leads to
  memory_forward.py  the training forward: target log-probabilities after the compressed KV memory
  loop.py            one optimizer step per context, its memory rebuilt from the current weights
  sft.py, rlgf.py    the two stages' losses (masked NLL; DPO against the adapter-free model)
  adapters.py        LoRA adapters saved as safetensors + manifest, loaded by path, checked against the base
  command.py         `memorag train build-data | sft | rlgf`
Needs peft (`pip install "memorag[train]"`). Importing this package imports nothing heavy; the modules do.
"""
