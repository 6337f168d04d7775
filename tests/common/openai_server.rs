//! A local OpenAI-compatible server for tests, speaking the real wire format: HTTP/1.1 with
//! chunked transfer encoding, `text/event-stream` for chat completions (one `data: {json}`
//! event per chunk, tool calls as `delta.tool_calls` fragments, `data: [DONE]` at the end), and
//! raw 16-bit PCM for `/audio/speech`.
//!
//! Each request takes the next scripted [`Reply`]. A [`Step::Gate`] holds the response until the
//! test opens it, while watching the socket: a client that closes the connection meanwhile is
//! reported on [`Served::closed`]. Every request body is handed to the test ([`Served::body`]).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// One piece of a scripted response.
pub enum Step {
    /// Assistant text: one SSE chunk with `delta.content`.
    Text(String),
    /// A tool-call fragment: `id` and `name` in the first fragment of a call, arguments in any.
    Tool {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    /// A chunk with `finish_reason`.
    Finish(&'static str),
    /// `data: [DONE]`.
    Done,
    /// Waits for the test; the receiver resolving (or being dropped) opens the gate.
    Gate(oneshot::Receiver<()>),
    /// Raw bytes of an audio body.
    Bytes(Vec<u8>),
}

/// How the server answers one request.
pub enum Reply {
    /// `200` with a `text/event-stream` body made of the steps.
    Sse(Vec<Step>),
    /// `200` with an `application/octet-stream` body (speech).
    Audio(Vec<Step>),
    /// Reads the request and never answers (until the client gives up).
    Hang,
    /// Reads the request and closes the connection without a response.
    Reset,
    /// An error status with an OpenAI-style error body.
    Error(u16, &'static str),
}

/// What the server saw of one request.
pub struct Served {
    pub path: String,
    pub body: Value,
    /// Resolves when the client closed the connection before the response was complete.
    pub closed: oneshot::Receiver<()>,
}

pub struct FakeOpenAi {
    /// e.g. `http://127.0.0.1:41234/v1`
    pub base_url: String,
    script: Arc<Mutex<VecDeque<Reply>>>,
    served: mpsc::UnboundedReceiver<Served>,
}

impl FakeOpenAi {
    /// Starts serving `script`, one reply per request, on a free local port.
    pub async fn start(script: Vec<Reply>) -> FakeOpenAi {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let (served_tx, served) = mpsc::unbounded_channel();
        let queue = script.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(connection(socket, queue.clone(), served_tx.clone()));
            }
        });
        FakeOpenAi {
            base_url,
            script,
            served,
        }
    }

    /// Adds replies for later requests.
    pub fn then(&self, reply: Reply) {
        self.script.lock().unwrap().push_back(reply);
    }

    /// The next request the server received (waits for it).
    pub async fn next_request(&mut self) -> Served {
        tokio::time::timeout(std::time::Duration::from_secs(20), self.served.recv())
            .await
            .expect("a request within 20 s")
            .expect("the server is running")
    }

    /// A request if one arrived already.
    pub fn try_next_request(&mut self) -> Option<Served> {
        self.served.try_recv().ok()
    }
}

/// A gate and the key that opens it.
pub fn gate() -> (oneshot::Sender<()>, Step) {
    let (open, wait) = oneshot::channel();
    (open, Step::Gate(wait))
}

pub fn text(t: &str) -> Step {
    Step::Text(t.to_string())
}

/// A whole tool call in three fragments (name, then the arguments split in two), as servers
/// stream them.
pub fn tool_call(index: u32, id: &str, name: &str, arguments: &str) -> Vec<Step> {
    let split = arguments.len() / 2;
    vec![
        Step::Tool {
            index,
            id: Some(id.into()),
            name: Some(name.into()),
            arguments: String::new(),
        },
        Step::Tool {
            index,
            id: None,
            name: None,
            arguments: arguments[..split].into(),
        },
        Step::Tool {
            index,
            id: None,
            name: None,
            arguments: arguments[split..].into(),
        },
    ]
}

fn chunk(delta: Value, finish_reason: Option<&str>) -> String {
    let event = json!({
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_767_225_600,
        "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
    });
    format!("data: {event}\n\n")
}

async fn read_request(socket: &mut TcpStream) -> Option<(String, Value)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let header_end = loop {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..header_end]).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while data.len() < header_end + length {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let body = serde_json::from_slice(&data[header_end..header_end + length]).unwrap_or(Value::Null);
    Some((path, body))
}

/// Writes one chunk of a chunked body; false if the client is gone.
async fn write_chunk(socket: &mut TcpStream, data: &[u8]) -> bool {
    let mut framed = format!("{:x}\r\n", data.len()).into_bytes();
    framed.extend_from_slice(data);
    framed.extend_from_slice(b"\r\n");
    socket.write_all(&framed).await.is_ok() && socket.flush().await.is_ok()
}

/// Waits for `gate`, or for the client to close the connection (returns false).
async fn wait_gate(socket: &mut TcpStream, gate: oneshot::Receiver<()>) -> bool {
    let mut buf = [0u8; 64];
    tokio::select! {
        _ = gate => true,
        read = socket.read(&mut buf) => !matches!(read, Ok(0) | Err(_)),
    }
}

/// Serves requests on one connection (clients reuse connections) until either side closes.
async fn connection(
    mut socket: TcpStream,
    queue: Arc<Mutex<VecDeque<Reply>>>,
    served: mpsc::UnboundedSender<Served>,
) {
    while let Some((path, body)) = read_request(&mut socket).await {
        let reply = queue.lock().unwrap().pop_front();
        if !serve(&mut socket, path, body, reply, &served).await {
            return;
        }
    }
}

/// Answers one request; false when the connection is finished.
async fn serve(
    socket: &mut TcpStream,
    path: String,
    body: Value,
    reply: Option<Reply>,
    served: &mpsc::UnboundedSender<Served>,
) -> bool {
    let (closed_tx, closed) = oneshot::channel();
    let _ = served.send(Served { path, body, closed });
    let closed_early = |tx: oneshot::Sender<()>| {
        let _ = tx.send(());
        false
    };
    match reply.unwrap_or(Reply::Error(500, "the test script has no reply for this request")) {
        Reply::Reset => false,
        Reply::Hang => {
            let mut buf = [0u8; 64];
            // The client gives up (times out) and closes; that is the end of this request.
            let _ = socket.read(&mut buf).await;
            closed_early(closed_tx)
        }
        Reply::Error(status, message) => {
            let body =
                json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}})
                    .to_string();
            let response = format!(
                "HTTP/1.1 {status} Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
            false
        }
        Reply::Sse(steps) => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n";
            if socket.write_all(head.as_bytes()).await.is_err() {
                return closed_early(closed_tx);
            }
            let mut first = true;
            for step in steps {
                let event = match step {
                    Step::Text(t) => {
                        let delta = if first {
                            json!({"role": "assistant", "content": t})
                        } else {
                            json!({"content": t})
                        };
                        first = false;
                        chunk(delta, None)
                    }
                    Step::Tool {
                        index,
                        id,
                        name,
                        arguments,
                    } => {
                        let mut call = json!({"index": index, "function": {"arguments": arguments}});
                        if let Some(id) = id {
                            call["id"] = json!(id);
                            call["type"] = json!("function");
                        }
                        if let Some(name) = name {
                            call["function"]["name"] = json!(name);
                        }
                        chunk(json!({"tool_calls": [call]}), None)
                    }
                    Step::Finish(reason) => chunk(json!({}), Some(reason)),
                    Step::Done => "data: [DONE]\n\n".to_string(),
                    Step::Gate(gate) => {
                        if !wait_gate(socket, gate).await {
                            return closed_early(closed_tx);
                        }
                        continue;
                    }
                    Step::Bytes(_) => panic!("raw bytes in an SSE reply"),
                };
                if !write_chunk(socket, event.as_bytes()).await {
                    return closed_early(closed_tx);
                }
            }
            socket.write_all(b"0\r\n\r\n").await.is_ok()
        }
        Reply::Audio(steps) => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n";
            if socket.write_all(head.as_bytes()).await.is_err() {
                return closed_early(closed_tx);
            }
            for step in steps {
                match step {
                    Step::Bytes(bytes) => {
                        if !write_chunk(socket, &bytes).await {
                            return closed_early(closed_tx);
                        }
                    }
                    Step::Gate(gate) => {
                        if !wait_gate(socket, gate).await {
                            return closed_early(closed_tx);
                        }
                    }
                    _ => panic!("only bytes and gates in an audio reply"),
                }
            }
            socket.write_all(b"0\r\n\r\n").await.is_ok()
        }
    }
}

/// `samples` of a 440 Hz tone as 24 kHz 16-bit little-endian PCM (the `pcm` speech format).
pub fn pcm_tone(samples: usize) -> Vec<u8> {
    (0..samples)
        .flat_map(|n| {
            let s = (n as f32 * 440.0 * std::f32::consts::TAU / 24_000.0).sin() * 12_000.0;
            (s as i16).to_le_bytes()
        })
        .collect()
}
