//! Calls any RPC with any bytes, as an outside client might: a raw codec over the real channel,
//! and the service descriptors (from the server's own descriptor set) to build requests as
//! dynamic messages and read answers field by field. The bad-input table, the fuzz harness and
//! the spelling test speak to the server through this.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::{Buf, BufMut};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, ReflectMessage, Value};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::Status;

use crate::helpers::TestApp;

pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(credit_ledger::proto::FILE_DESCRIPTOR_SET).expect("descriptors")
    })
}

/// Every RPC of the five services.
pub fn methods() -> Vec<MethodDescriptor> {
    [
        "Accounts", "Credits", "Usage", "Journal", "Events", "Pricing", "Budgets", "Refills",
    ]
    .iter()
    .flat_map(|s| {
        pool()
            .get_service_by_name(&format!("creditledger.v1.{s}"))
            .expect("service")
            .methods()
            .collect::<Vec<_>>()
    })
    .collect()
}

/// `Usage/Debit` → its descriptor.
pub fn method(name: &str) -> MethodDescriptor {
    let (service, method) = name.split_once('/').expect("Service/Method");
    pool()
        .get_service_by_name(&format!("creditledger.v1.{service}"))
        .expect("service")
        .methods()
        .find(|m| m.name() == method)
        .unwrap_or_else(|| panic!("no method {name}"))
}

/// A typed request as a dynamic message of `method`'s input type.
pub fn request_of<M: prost::Message>(method: &MethodDescriptor, message: &M) -> DynamicMessage {
    DynamicMessage::decode(method.input(), message.encode_to_vec().as_slice()).expect("decodes")
}

/// Sets a field, or a field of a message field (`account.external_id`).
pub fn set(message: &mut DynamicMessage, path: &str, value: Value) {
    match path.split_once('.') {
        None => message.set_field_by_name(path, value),
        Some((head, rest)) => {
            let field = message
                .descriptor()
                .get_field_by_name(head)
                .unwrap_or_else(|| panic!("no field {head}"));
            let mut inner = match message.get_field_by_name(head) {
                Some(v) if message.has_field_by_name(head) => {
                    v.as_message().cloned().expect("a message field")
                }
                _ => DynamicMessage::new(field.kind().as_message().expect("message").clone()),
            };
            set(&mut inner, rest, value);
            message.set_field_by_name(head, Value::Message(inner));
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

#[derive(Debug, Clone, Copy, Default)]
pub struct RawEncoder;

#[derive(Debug, Clone, Copy, Default)]
pub struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

/// A client that sends any bytes to any method.
#[derive(Clone)]
pub struct Wire {
    channel: Channel,
}

impl Wire {
    pub async fn connect(app: &TestApp) -> Wire {
        let channel = Channel::from_shared(app.addr.clone())
            .unwrap()
            .connect()
            .await
            .expect("connect");
        Wire { channel }
    }

    /// Sends `body` as the request of `method`; the first (or only) answer's bytes. A stream
    /// that opens is read for at most `wait` and then dropped: `Ok(None)` when nothing came.
    pub async fn call_raw(
        &self,
        method: &MethodDescriptor,
        body: Vec<u8>,
        deadline: Option<Duration>,
    ) -> Result<Option<Vec<u8>>, Status> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready()
            .await
            .map_err(|e| Status::unknown(format!("channel not ready: {e}")))?;
        let path = format!("/{}/{}", method.parent_service().full_name(), method.name())
            .parse()
            .expect("a path");
        let mut request = tonic::Request::new(body);
        if let Some(deadline) = deadline {
            request.set_timeout(deadline);
        }
        if method.is_server_streaming() {
            let mut stream = grpc
                .server_streaming(request, path, RawCodec)
                .await?
                .into_inner();
            return match tokio::time::timeout(Duration::from_millis(50), stream.message()).await {
                Ok(message) => message,
                Err(_) => Ok(None),
            };
        }
        grpc.unary(request, path, RawCodec)
            .await
            .map(|r| Some(r.into_inner()))
    }

    /// Sends a dynamic message; the answer decoded as the method's output.
    pub async fn call(
        &self,
        method: &MethodDescriptor,
        request: &DynamicMessage,
    ) -> Result<Option<DynamicMessage>, Status> {
        let answer = self.call_raw(method, request.encode_to_vec(), None).await?;
        Ok(answer.map(|bytes| {
            DynamicMessage::decode(method.output(), bytes.as_slice()).expect("a decodable answer")
        }))
    }
}
