pub mod proto {
    tonic::include_proto!("creditledger.v1");
}
