//! The chain side: the `Anchor` contract over JSON-RPC (alloy), with a local signer.

use super::{ChainAnchor, OnchainConfig};
use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::SolEvent;
use alloy::transports::http::reqwest::Url as ReqwestUrl;
use std::time::Duration;

mod reqwest_url {
    pub type Url = super::ReqwestUrl;
}

sol! {
    #[sol(rpc)]
    contract Anchor {
        event Anchored(uint64 indexed seq, bytes32 head, uint256 at);
        error NotOwner(address caller);
        error SeqNotIncreasing(uint64 seq, uint64 latest);
        function owner() external view returns (address);
        function anchor(uint64 seq, bytes32 head) external;
        function latest() external view returns (uint64 seq, bytes32 head, uint256 at);
    }
}

/// The contract's creation code, compiled from `contracts/Anchor.sol` by `contracts/build.sh`.
const BYTECODE: &str = include_str!("../../contracts/Anchor.bin");

/// How long a transaction may take to be mined and confirmed before the attempt gives up (the
/// anchor stays `sent`, and its receipt is looked for on the next attempt).
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Chain {
    provider: DynProvider,
    contract: Option<Address>,
    confirmations: u64,
    /// The signer's address; None for a reader (verification needs no key).
    pub signer: Option<Address>,
}

/// What sending an anchor came to.
pub enum Sent {
    /// Mined and confirmed: (tx hash, block).
    Confirmed(String, u64),
    /// Sent, not yet confirmed within the wait: its tx hash.
    Pending(String),
}

fn short(e: impl std::fmt::Display) -> String {
    let s = e.to_string();
    let s = s.lines().next().unwrap_or("").to_string();
    if s.len() > 300 {
        format!("{}…", &s[..300])
    } else {
        s
    }
}

pub fn hex32(head: &str) -> Result<B256, String> {
    head.trim_start_matches("0x")
        .parse::<B256>()
        .map_err(|e| format!("head {head} is not a 32-byte hash: {e}"))
}

impl Chain {
    /// Connects to `cfg.rpc_url`, with the signer `key` when given (sending needs one, reading
    /// does not), and checks the chain id when configured.
    pub async fn connect(cfg: &OnchainConfig, key: Option<&str>) -> Result<Chain, String> {
        let url: reqwest_url::Url = cfg
            .rpc_url
            .parse()
            .map_err(|e| format!("rpc_url {}: {e}", cfg.rpc_url))?;
        let (provider, address) = match key {
            Some(key) => {
                let signer: PrivateKeySigner = key
                    .trim_start_matches("0x")
                    .parse()
                    .map_err(|_| "the signer key is not a 32-byte hex private key".to_string())?;
                let address = signer.address();
                let p = ProviderBuilder::new()
                    .wallet(EthereumWallet::from(signer))
                    .connect_http(url)
                    .erased();
                (p, Some(address))
            }
            None => (ProviderBuilder::new().connect_http(url).erased(), None),
        };
        if let Some(want) = cfg.chain_id {
            let got = tokio::time::timeout(Duration::from_secs(10), provider.get_chain_id())
                .await
                .map_err(|_| format!("{} did not answer within 10 s", cfg.rpc_url))?
                .map_err(|e| format!("cannot reach {}: {}", cfg.rpc_url, short(e)))?;
            if got != want {
                return Err(format!(
                    "{} serves chain {got}, not chain_id {want}",
                    cfg.rpc_url
                ));
            }
        }
        let contract = match &cfg.contract {
            Some(c) => Some(
                c.parse::<Address>()
                    .map_err(|e| format!("contract {c} is not an address: {e}"))?,
            ),
            None => None,
        };
        Ok(Chain {
            provider,
            contract,
            confirmations: cfg.confirmations.max(1),
            signer: address,
        })
    }

    fn contract(&self) -> Result<Anchor::AnchorInstance<DynProvider>, String> {
        let a = self
            .contract
            .ok_or("no contract: set [onchain] contract (escrowgrid anchor deploy prints one)")?;
        Ok(Anchor::new(a, self.provider.clone()))
    }

    /// Deploys the contract, owned by the signer; its address and the deploying transaction.
    pub async fn deploy(&self) -> Result<(Address, String, u64), String> {
        let code = hex::decode(BYTECODE.trim()).map_err(|e| format!("bytecode: {e}"))?;
        let tx = TransactionRequest::default().with_deploy_code(Bytes::from(code));
        let receipt = self
            .provider
            .send_transaction(tx)
            .await
            .map_err(|e| format!("deploy: {}", short(e)))?
            .with_timeout(Some(RECEIPT_TIMEOUT))
            .get_receipt()
            .await
            .map_err(|e| format!("deploy: {}", short(e)))?;
        let address = receipt
            .contract_address
            .ok_or("deploy: the receipt names no contract")?;
        Ok((
            address,
            format!("{:#x}", receipt.transaction_hash),
            receipt.block_number.unwrap_or_default(),
        ))
    }

    /// The latest anchor the contract holds: (seq, head hex).
    pub async fn latest(&self) -> Result<(i64, String), String> {
        let r = self
            .contract()?
            .latest()
            .call()
            .await
            .map_err(|e| format!("latest(): {}", short(e)))?;
        Ok((r.seq as i64, hex::encode(r.head)))
    }

    /// Sends `anchor(seq, head)` and waits for its confirmations (bounded).
    pub async fn anchor(&self, seq: i64, head: &str) -> Result<Sent, String> {
        let contract = self.contract()?;
        let call = contract.anchor(seq as u64, hex32(head)?);
        let pending = call.send().await.map_err(|e| {
            match e.as_decoded_interface_error::<Anchor::AnchorErrors>() {
                Some(Anchor::AnchorErrors::SeqNotIncreasing(x)) => format!(
                    "refused by the contract: seq {} is not above its latest {}",
                    x.seq, x.latest
                ),
                Some(Anchor::AnchorErrors::NotOwner(x)) => {
                    format!("refused by the contract: {} is not its owner", x.caller)
                }
                None => short(e),
            }
        })?;
        let tx = format!("{:#x}", pending.tx_hash());
        match pending
            .with_required_confirmations(self.confirmations)
            .with_timeout(Some(RECEIPT_TIMEOUT))
            .get_receipt()
            .await
        {
            Ok(r) if r.status() => Ok(Sent::Confirmed(tx, r.block_number.unwrap_or_default())),
            Ok(_) => Err(format!("transaction {tx} reverted")),
            Err(_) => Ok(Sent::Pending(tx)),
        }
    }

    /// A sent transaction's fate: Some(block) once mined and confirmed, None while not.
    pub async fn confirmed(&self, tx: &str) -> Result<Option<u64>, String> {
        let hash: B256 = tx.parse().map_err(|e| format!("tx {tx}: {e}"))?;
        let Some(r) = self
            .provider
            .get_transaction_receipt(hash)
            .await
            .map_err(short)?
        else {
            return Ok(None);
        };
        if !r.status() {
            return Err(format!("transaction {tx} reverted"));
        }
        let block = r.block_number.unwrap_or_default();
        let now = self.provider.get_block_number().await.map_err(short)?;
        Ok((now + 1 >= block + self.confirmations).then_some(block))
    }

    /// Every anchor the contract recorded, oldest first.
    pub async fn anchors(&self) -> Result<Vec<ChainAnchor>, String> {
        let address = self.contract.ok_or("no contract: set [onchain] contract")?;
        let filter = Filter::new()
            .address(address)
            .event_signature(Anchor::Anchored::SIGNATURE_HASH)
            .from_block(0);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .map_err(|e| format!("reading Anchored events: {}", short(e)))?;
        let mut out = Vec::new();
        for log in logs {
            let decoded = log
                .log_decode::<Anchor::Anchored>()
                .map_err(|e| format!("an Anchored event does not decode: {e}"))?;
            out.push(ChainAnchor {
                seq: decoded.inner.data.seq as i64,
                head: hex::encode(decoded.inner.data.head),
                block: log.block_number.unwrap_or_default(),
                tx_hash: log
                    .transaction_hash
                    .map(|h| format!("{h:#x}"))
                    .unwrap_or_default(),
            });
        }
        out.sort_by_key(|a| a.seq);
        Ok(out)
    }
}
