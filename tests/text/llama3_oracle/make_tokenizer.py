#!/usr/bin/env python3
"""Writes tokenizer.json: a small synthetic tokenizer with Llama-3's exact tokenizer.json structure.

No Llama-3 tokenizer can be downloaded here, so this builds one with the real parts that matter to
an encoder: Llama-3's Split pre-tokenizer regex (Isolated) followed by ByteLevel without its own
regex, a byte-level BPE model with "ignore_merges": true, the 256 byte symbols, merges learned from
the first 200 KB of WikiText-2 test (plain pair-count BPE, 600 merges), whole-word tokens that no
merge path reaches (so ignore_merges changes the result), and Llama-3's special tokens as added
tokens. tests/text/llama3_tokenizer_oracle_test.cpp checks lowbit's encoder on it against
@huggingface/tokenizers (npm). Regenerate: python3 make_tokenizer.py ../../../../shared (stdlib
only; the committed file is what the test uses).
"""
import collections
import json
import re
import sys

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?"
                  r"[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def bytes_to_unicode():
    """GPT-2's byte-level alphabet: printable bytes map to themselves, the rest above U+0100."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else "../../../../shared"
    text = open(f"{shared}/data/wikitext-2/wiki.test.raw", encoding="utf-8").read()[:200_000]
    alphabet = bytes_to_unicode()
    # Training only needs plausible words: an ASCII approximation of the pre-tokenizer.
    words = collections.Counter(re.findall(r" ?[A-Za-z]+| ?[0-9]{1,3}| ?[^\sA-Za-z0-9]+|\s+", text))
    corpus = {tuple(alphabet[b] for b in w.encode("utf-8")): c for w, c in words.items()}
    vocab = {alphabet[b]: i for i, b in enumerate(sorted(alphabet, key=lambda b: ord(alphabet[b])))}
    merges = []
    for _ in range(600):
        pairs = collections.Counter()
        for sym, c in corpus.items():
            for a, b in zip(sym, sym[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append(f"{a} {b}")
        vocab.setdefault(a + b, len(vocab))
        merged = {}
        for sym, c in corpus.items():
            out, i = [], 0
            while i < len(sym):
                if i + 1 < len(sym) and sym[i] == a and sym[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + c
        corpus = merged
    # Whole words no merge path reaches: with ignore_merges they are one token each.
    for w in [" zyzzyva", " quixotic", "Llama", " tokenizer", " 128k", "ünïcödé", " naïve"]:
        vocab.setdefault("".join(alphabet[b] for b in w.encode("utf-8")), len(vocab))
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                "<|end_header_id|>", "<|eot_id|>"]
    added = [{"id": len(vocab) + i, "content": s, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True} for i, s in enumerate(specials)]
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": vocab, "merges": merges},
    }
    with open("tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
