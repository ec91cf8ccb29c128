"""Errors of the crypto layer.

``crypto`` is the bottom layer: it imports nothing from ``trading`` and has its own root.
Each error carries a member of a closed ``Enum`` of codes (a stable machine ``code`` string
and a message in English and Simplified Chinese) plus a free-text ``detail`` in English.
The packages above map these onto their domain errors (``bidding`` turns an
``EnvelopeError`` into a ``Rejected`` of its own).

Tree::

    CryptoError                 root; never raised itself
    ├── EnvelopeError(code)     a sealed envelope is malformed, foreign, tampered or unsigned
    ├── SealedBoxError(code)    a sealed box (an encrypted key share) does not open
    ├── ShamirError(code)       bad split parameters or shares that do not combine
    ├── MerkleError(code)       bad leaves or index for a tree or a proof
    └── KeyFormatError(code)    a key or encoding of the wrong size or alphabet

What only a programming error can cause (a chunk size out of range, an id that is not a
string) raises ``ValueError``/``TypeError`` as usual; what a file, an upload or a peer can
cause raises one of the above.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "CryptoError",
    "EnvelopeCode",
    "EnvelopeError",
    "KeyFormatCode",
    "KeyFormatError",
    "MerkleCode",
    "MerkleError",
    "SealedBoxCode",
    "SealedBoxError",
    "ShamirCode",
    "ShamirError",
]


class _Code(Enum):
    """Members are ``NAME = (code, message_en, message_zh)``."""

    def __init__(self, code: str, message_en: str, message_zh: str) -> None:
        self.code = code
        self.message_en = message_en
        self.message_zh = message_zh

    def __str__(self) -> str:
        return self.code


class EnvelopeCode(_Code):
    """Why an envelope was refused. The order is the order of the checks."""

    NOT_AN_ENVELOPE = (
        "not_an_envelope",
        "The file is not a sealed envelope (wrong magic bytes)",
        "文件不是密封投标信封（标识字节错误）",
    )
    UNSUPPORTED_VERSION = (
        "unsupported_version",
        "The envelope format version is not supported",
        "不支持该信封格式版本",
    )
    UNKNOWN_SUITE = (
        "unknown_suite",
        "The envelope names an unknown cipher suite or signature scheme",
        "信封使用了未知的密码套件或签名算法",
    )
    MALFORMED = (
        "malformed",
        "The envelope is malformed",
        "信封格式错误",
    )
    TOO_LARGE = (
        "too_large",
        "The envelope exceeds a size limit",
        "信封超出大小限制",
    )
    HEADER_MISMATCH = (
        "header_mismatch",
        "The envelope header names another tender or bidder",
        "信封头中的招标项目或投标人与预期不符",
    )
    WRONG_RECIPIENT = (
        "wrong_recipient",
        "The envelope is sealed to another opening key",
        "信封不是用本项目的开标公钥加密的",
    )
    CHUNK_OUT_OF_ORDER = (
        "chunk_out_of_order",
        "The envelope's chunks are missing, repeated or out of order",
        "信封数据块缺失、重复或顺序错误",
    )
    TRUNCATED = (
        "truncated",
        "The envelope is truncated",
        "信封不完整（被截断）",
    )
    BAD_SIGNATURE = (
        "bad_signature",
        "The envelope is not signed by the bidder's registered key",
        "信封不是由投标人登记的密钥签名的",
    )
    DECRYPT_FAILED = (
        "decrypt_failed",
        "The envelope does not decrypt: wrong key or altered content",
        "信封解密失败：密钥错误或内容被篡改",
    )


class SealedBoxCode(_Code):
    MALFORMED = ("malformed", "The sealed box is malformed", "密封数据格式错误")
    DECRYPT_FAILED = (
        "decrypt_failed",
        "The sealed box does not open: wrong key, wrong context or altered content",
        "密封数据解密失败：密钥或用途错误，或内容被篡改",
    )


class ShamirCode(_Code):
    INVALID_PARAMETERS = (
        "invalid_parameters",
        "Invalid threshold parameters (need 1 <= k <= n <= 255 and a non-empty secret)",
        "门限参数无效（需 1 <= k <= n <= 255 且秘密非空）",
    )
    MALFORMED_SHARE = ("malformed_share", "The key share is malformed", "密钥份额格式错误")
    TOO_FEW_SHARES = (
        "too_few_shares",
        "Not enough distinct key shares to rebuild the key",
        "不同的密钥份额数量不足，无法恢复密钥",
    )
    INCONSISTENT_SHARES = (
        "inconsistent_shares",
        "The key shares do not belong together",
        "密钥份额互不匹配",
    )


class MerkleCode(_Code):
    BAD_LEAF = ("bad_leaf", "A Merkle leaf must be a 32-byte hash", "默克尔叶子必须是 32 字节哈希")
    BAD_INDEX = ("bad_index", "The leaf index is outside the tree", "叶子序号超出树的范围")


class KeyFormatCode(_Code):
    BAD_LENGTH = ("bad_length", "The key has the wrong length", "密钥长度错误")
    BAD_ENCODING = ("bad_encoding", "The value is not in the expected encoding", "编码格式错误")
    BAD_KEY = ("bad_key", "The key is not usable (low-order point)", "密钥不可用（低阶点）")


class CryptoError(Exception):
    """Root of the crypto layer's errors. ``code`` is a member of the subclass's enum."""

    code: _Code

    def __init__(self, code: _Code, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code.code}: {code.message_en}" + (f" ({detail})" if detail else ""))

    @property
    def reason_code(self) -> str:
        """The stable machine code, e.g. ``"truncated"``."""
        return self.code.code

    @property
    def message_en(self) -> str:
        return self.code.message_en + (f": {self.detail}" if self.detail else "")

    @property
    def message_zh(self) -> str:
        return self.code.message_zh + (f"：{self.detail}" if self.detail else "")


class EnvelopeError(CryptoError):
    code: EnvelopeCode

    def __init__(self, code: EnvelopeCode, detail: str = "") -> None:
        super().__init__(code, detail)


class SealedBoxError(CryptoError):
    code: SealedBoxCode

    def __init__(self, code: SealedBoxCode, detail: str = "") -> None:
        super().__init__(code, detail)


class ShamirError(CryptoError):
    code: ShamirCode

    def __init__(self, code: ShamirCode, detail: str = "") -> None:
        super().__init__(code, detail)


class MerkleError(CryptoError):
    code: MerkleCode

    def __init__(self, code: MerkleCode, detail: str = "") -> None:
        super().__init__(code, detail)


class KeyFormatError(CryptoError):
    code: KeyFormatCode

    def __init__(self, code: KeyFormatCode, detail: str = "") -> None:
        super().__init__(code, detail)
