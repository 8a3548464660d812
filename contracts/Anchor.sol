// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title EscrowGrid ledger anchor
/// @notice Records the head of an EscrowGrid hash-chained ledger: (seq, head hash) pairs with
///         strictly increasing seq, published by the contract's owner only. Anyone can read them
///         back (the `Anchored` events, or `latest()`) and check a ledger or an export against
///         them without trusting its operator.
contract Anchor {
    address public immutable owner;
    uint64 public latestSeq;
    bytes32 public latestHead;
    uint256 public latestAt;

    event Anchored(uint64 indexed seq, bytes32 head, uint256 at);

    error NotOwner(address caller);
    error SeqNotIncreasing(uint64 seq, uint64 latest);

    constructor() {
        owner = msg.sender;
    }

    /// @notice Anchors the ledger head `head` at sequence number `seq`.
    function anchor(uint64 seq, bytes32 head) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        if (seq <= latestSeq) revert SeqNotIncreasing(seq, latestSeq);
        latestSeq = seq;
        latestHead = head;
        latestAt = block.timestamp;
        emit Anchored(seq, head, block.timestamp);
    }

    /// @notice The latest anchor: its seq, head and block time (all zero before the first).
    function latest() external view returns (uint64 seq, bytes32 head, uint256 at) {
        return (latestSeq, latestHead, latestAt);
    }
}
