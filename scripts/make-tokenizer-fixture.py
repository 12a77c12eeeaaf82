#!/usr/bin/env python3
"""Reference data for tests/model/tokenizer_test.cpp, produced with HF `tokenizers`.

    python3 scripts/make-tokenizer-fixture.py OUT_DIR

Writes two cases, each a folder with tokenizer.json, text.txt (UTF-8), ids.bin (HF's ids for the whole text,
int32 little-endian, from encode(text, add_special_tokens=False)) and decoded.txt (HF's decode of those ids):
  OUT_DIR/deepseek  ~1.1 MB of mixed text; BPE trained on it with DeepSeek-V3's pre-tokenizer (three Isolated
                    Splits + ByteLevel without regex), special and added tokens written into the text.
  OUT_DIR/gpt2      ~150 KB; the plain ByteLevel pre-tokenizer (GPT-2 regex, add_prefix_space) and added tokens
                    with lstrip / rstrip.
Deterministic (seeded); finishes in a few seconds on one core.
"""
import os
import random
import struct
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

# DeepSeek-V3's pre-tokenizer regexes, as in its tokenizer.json.
DS_DIGITS = r"\p{N}{1,3}"
DS_CJK = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"
DS_MAIN = ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
           " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+")

SPECIALS = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"]
ADDED = ["<think>", "</think>", "<|tool|>", "<|tool|>call"]  # the last two: longest match first

ENGLISH = ("the of and to in is was for that on with as by at from his her they we you it this which be are "
           "have had not but or an one all were when there can more if out so what up about who get would make "
           "time just him know take people into year your good some could them see other than then now look "
           "only come its over think also back after use two how our work first well way even new want because "
           "any these give day most us tokenizer model training sparse attention expert routing gradient "
           "Hello World Python GPU DeepSeek OpenAI JSON HTTP iPhone McDonald O'Neil naïve café résumé").split()
CONTRACTIONS = ["don't", "it's", "we'll", "they've", "I'm", "she'd", "you're", "IT'S", "can't", "'s", "'ll"]
CHINESE = ("的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出就分对成会可主发年动同工也能下过"
           "民前面手自己事情学生习数据模型训练注意力专家路由梯度语言理解机器人工智能深度求索世界你好谢谢")
OTHER_SCRIPTS = ["Привет", "мир", "ёжик", "Ελληνικά", "αβγ", "ΣΊΣΥΦΟΣ", "مرحبا", "بالعالم", "שלום", "हिन्दी",
                 "नमस्ते", "ไทย", "한국어", "안녕하세요", "ひらがな", "カタカナ", "ｶﾀｶﾅ", "Ω", "ǅungla", "ﬁne"]
CODE = ["def f(x):\n    return x ** 2  # square\n", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
        "if (a != b && c >= d) { printf(\"%d\\n\", x); }", "std::vector<int32_t> ids{1, 2, 3};",
        "x = {'key': [1, 2.5, None], \"k2\": True}", "SELECT * FROM t WHERE id=42;", "$ ls -la ~/.config",
        "#include <stdio.h>", "@decorator\nclass A(B):", "a->b->c", "i++;--j;", "0x1F 0b1010 1e-9",
        "https://example.com/path?q=1&r=2#frag", "user@example.com", "`code` **bold** _it_", "<div class=\"x\">"]
EMOJI = ["😀", "👍🏽", "👨\u200d👩\u200d👧", "❤️", "🇫🇷", "1️⃣", "🎉🎉", "🤖", "✅", "⭐"]
PUNCT = ["...", "--", "“quoted”", "‘single’", "—", "–", "«»", "，", "。", "！", "？", "、", "「」", "『』", "（）",
         "【】", "¿", "¡", "±×÷", "≤≥≠∞", "∑√", "$€£¥₹", "©®™", "°", "!!", "?!", "&&", "||", "::", "#", "%", "\\"]
SPACES = [" ", "  ", "    ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2003", "\u2028", "\u0085",
          "\x0b", "\x0c", "\x1c", "\u200b", "\ufeff", "   \n\t ", "\n    "]
ODD = ["e\u0301", "n\u0303o", "Vi\u1ec7t", "a\u0308\u0301", "\x00", "\x07", "\x7f", "\x1b[0m", "<think", "<｜User|>",
       "１２３", "²³", "Ⅻ", "٣٤٥", "½"]


def number(rng):
    k = rng.random()
    if k < 0.4:
        return str(rng.randint(0, 10 ** rng.randint(1, 12)))
    if k < 0.6:
        return f"{rng.uniform(-1000, 1000):.{rng.randint(1, 6)}f}"
    if k < 0.8:
        return f"{rng.randint(1, 999)},{rng.randint(0, 999):03d},{rng.randint(0, 999):03d}"
    return f"{rng.randint(1, 9)}.{rng.randint(0, 99)}e-{rng.randint(1, 20)}"


def fragment(rng, added):
    k = rng.random()
    if k < 0.35:
        words = [rng.choice(ENGLISH) for _ in range(rng.randint(1, 12))]
        if rng.random() < 0.3:
            words.append(rng.choice(CONTRACTIONS))
        return " ".join(words) + rng.choice([".", ",", "", "!", "?", ";"])
    if k < 0.50:
        return "".join(rng.choice(CHINESE) for _ in range(rng.randint(1, 20))) + rng.choice(["，", "。", "", "！"])
    if k < 0.55:
        return "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(rng.randint(1, 6)))  # incl. past U+9FA5
    if k < 0.63:
        return " ".join(rng.choice(OTHER_SCRIPTS) for _ in range(rng.randint(1, 4)))
    if k < 0.72:
        return rng.choice(CODE)
    if k < 0.80:
        return " ".join(number(rng) for _ in range(rng.randint(1, 4)))
    if k < 0.85:
        return "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 3)))
    if k < 0.91:
        return rng.choice(PUNCT)
    if k < 0.96:
        return rng.choice(ODD)
    return rng.choice(added)


# Long runs, once at the start: pieces far longer than the BPE cache takes, and whitespace-run backtracking.
EDGE = " " * 3000 + "a" * 2000 + "\n" * 300 + "7" * 1000 + "\t \t\n" * 100 + "😀" * 200 + "x\r\n  \r\n\n y"


def make_text(seed, size, added):
    rng = random.Random(seed)
    parts, total = [EDGE], len(EDGE)
    while total < size:
        piece = fragment(rng, added) + (rng.choice(SPACES) if rng.random() < 0.5 else " ")
        parts.append(piece)
        total += len(piece.encode("utf-8"))
    return "".join(parts)


def write_case(folder, tok, text):
    os.makedirs(folder, exist_ok=True)
    tok.save(os.path.join(folder, "tokenizer.json"))
    with open(os.path.join(folder, "text.txt"), "wb") as f:
        f.write(text.encode("utf-8"))
    ids = tok.encode(text, add_special_tokens=False).ids
    with open(os.path.join(folder, "ids.bin"), "wb") as f:
        f.write(struct.pack(f"<{len(ids)}i", *ids))
    with open(os.path.join(folder, "decoded.txt"), "wb") as f:
        f.write(tok.decode(ids, skip_special_tokens=False).encode("utf-8"))


def deepseek_case(out):
    text = make_text(1234, 1_100_000, SPECIALS + ADDED)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(DS_DIGITS), behavior="isolated", invert=False),
        pre_tokenizers.Split(Regex(DS_CJK), behavior="isolated", invert=False),
        pre_tokenizers.Split(Regex(DS_MAIN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=6000, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(text.splitlines(keepends=True), trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=True) for t in ADDED])
    write_case(os.path.join(out, "deepseek"), tok, text)


def gpt2_case(out):
    added = ["<|endoftext|>", " <mask> ", "[SEP]  x", "<mask>", "[SEP]"]
    text = make_text(99, 150_000, added)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, min_frequency=2, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(text.splitlines(keepends=True), trainer)
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    tok.add_tokens([AddedToken("[SEP]", rstrip=True, special=False, normalized=True)])
    write_case(os.path.join(out, "gpt2"), tok, text)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make-tokenizer-fixture.py OUT_DIR")
    deepseek_case(sys.argv[1])
    gpt2_case(sys.argv[1])


if __name__ == "__main__":
    main()
