//! pox-4's error codes as a typed error, plus the runtime aborts (arithmetic overflow, a
//! malformed argument) that Clarity raises without a code.

/// Why a stacking call failed. Every variant with a pox-4 code returns it from [`PoxError::code`]
/// (`(err uN)` in the contract); [`PoxError::Runtime`] is a Clarity runtime abort, which has no
/// code. Either way the call changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoxError {
    #[error("ERR_STACKING_INSUFFICIENT_FUNDS (1): not enough unlocked micro-STX")]
    InsufficientFunds,
    #[error("ERR_STACKING_INVALID_LOCK_PERIOD (2): lock period or cycle out of range")]
    InvalidLockPeriod,
    #[error("ERR_STACKING_ALREADY_STACKED (3): the stacker is already stacking")]
    AlreadyStacked,
    #[error("ERR_STACKING_NO_SUCH_PRINCIPAL (4): no partially stacked amount for this pox-addr, cycle and sender")]
    NoSuchPrincipal,
    #[error(
        "ERR_STACKING_PERMISSION_DENIED (9): caller not allowed, or not the stacker's delegate"
    )]
    PermissionDenied,
    #[error("ERR_STACKING_THRESHOLD_NOT_MET (11): amount below the stacking minimum")]
    ThresholdNotMet,
    #[error("ERR_STACKING_INVALID_POX_ADDRESS (13): pox-addr version or hashbytes length invalid")]
    InvalidPoxAddress,
    #[error("ERR_STACKING_INVALID_AMOUNT (18): amount must be positive")]
    InvalidAmount,
    #[error("ERR_NOT_ALLOWED (19): not allowed (no signer-key authorization, or not the signer key's owner)")]
    NotAllowed,
    #[error("ERR_STACKING_ALREADY_DELEGATED (20): the account has an active delegation")]
    AlreadyDelegated,
    #[error(
        "ERR_DELEGATION_EXPIRES_DURING_LOCK (21): the delegation expires before the lock ends"
    )]
    DelegationExpiresDuringLock,
    #[error("ERR_DELEGATION_TOO_MUCH_LOCKED (22): more than the delegated amount")]
    DelegationTooMuchLocked,
    #[error("ERR_DELEGATION_POX_ADDR_REQUIRED (23): the delegation requires a different pox-addr")]
    DelegationPoxAddrRequired,
    #[error(
        "ERR_INVALID_START_BURN_HEIGHT (24): start-burn-ht is not in the current reward cycle"
    )]
    InvalidStartBurnHeight,
    #[error("ERR_STACK_EXTEND_NOT_LOCKED (26): nothing locked to extend")]
    StackExtendNotLocked,
    #[error("ERR_STACK_INCREASE_NOT_LOCKED (27): nothing locked to increase")]
    StackIncreaseNotLocked,
    #[error("ERR_DELEGATION_NO_REWARD_SLOT (28): no reward-set entry at that cycle and index")]
    DelegationNoRewardSlot,
    #[error("ERR_DELEGATION_WRONG_REWARD_SLOT (29): the reward-set entry belongs to a solo stacker or another pox-addr")]
    DelegationWrongRewardSlot,
    #[error("ERR_STACKING_IS_DELEGATED (30): the stacker is stacking through a delegate")]
    IsDelegated,
    #[error("ERR_STACKING_NOT_DELEGATED (31): the stacker is not stacking through a delegate")]
    NotDelegated,
    #[error("ERR_INVALID_SIGNER_KEY (32): signer key differs from the one on record")]
    InvalidSignerKey,
    #[error("ERR_DELEGATION_ALREADY_REVOKED (34): no active delegation to revoke")]
    DelegationAlreadyRevoked,
    #[error(
        "ERR_INVALID_SIGNATURE_PUBKEY (35): the signer signature was not made by the signer key"
    )]
    InvalidSignaturePubkey,
    #[error("ERR_INVALID_SIGNATURE_RECOVER (36): no public key can be recovered from the signer signature")]
    InvalidSignatureRecover,
    #[error("ERR_INVALID_REWARD_CYCLE (37): the reward cycle is in the past")]
    InvalidRewardCycle,
    #[error("ERR_SIGNER_AUTH_AMOUNT_TOO_HIGH (38): amount above the authorization's max-amount")]
    SignerAuthAmountTooHigh,
    #[error("ERR_SIGNER_AUTH_USED (39): this signer-key authorization was already used")]
    SignerAuthUsed,
    #[error("ERR_INVALID_INCREASE (40): the increased cycles do not all carry this stacker and signer key")]
    InvalidIncrease,
    #[error("ERR_STACKING_UNREACHABLE (255): internal consistency check failed")]
    Unreachable,
    #[error("runtime error: {0}")]
    Runtime(String),
    #[error("delegate-stx takes no signer key on a pox-4 chain (pox-5's does)")]
    SignerKeyNotInPox4,
    #[error("delegate-stx needs the stacker's signer key on a pox-5 chain")]
    DelegateSignerKeyRequired,
}

impl PoxError {
    /// The contract's `(err uN)` code; `None` for runtime aborts.
    pub fn code(&self) -> Option<u32> {
        use PoxError::*;
        Some(match self {
            InsufficientFunds => 1,
            InvalidLockPeriod => 2,
            AlreadyStacked => 3,
            NoSuchPrincipal => 4,
            PermissionDenied => 9,
            ThresholdNotMet => 11,
            InvalidPoxAddress => 13,
            InvalidAmount => 18,
            NotAllowed => 19,
            AlreadyDelegated => 20,
            DelegationExpiresDuringLock => 21,
            DelegationTooMuchLocked => 22,
            DelegationPoxAddrRequired => 23,
            InvalidStartBurnHeight => 24,
            StackExtendNotLocked => 26,
            StackIncreaseNotLocked => 27,
            DelegationNoRewardSlot => 28,
            DelegationWrongRewardSlot => 29,
            IsDelegated => 30,
            NotDelegated => 31,
            InvalidSignerKey => 32,
            DelegationAlreadyRevoked => 34,
            InvalidSignaturePubkey => 35,
            InvalidSignatureRecover => 36,
            InvalidRewardCycle => 37,
            SignerAuthAmountTooHigh => 38,
            SignerAuthUsed => 39,
            InvalidIncrease => 40,
            Unreachable => 255,
            Runtime(_) | SignerKeyNotInPox4 | DelegateSignerKeyRequired => return None,
        })
    }

    pub(crate) fn overflow(what: &str) -> PoxError {
        PoxError::Runtime(format!("arithmetic overflow or underflow in {what}"))
    }
}
