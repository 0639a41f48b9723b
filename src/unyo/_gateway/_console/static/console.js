// The console's chat: stream the answer (SSE over fetch), Stop aborts the request, which the
// gateway sees as a disconnect and cancels upstream. Model text is only ever set as textContent.
"use strict";
(function () {
  const form = document.getElementById("chat-form");
  if (!form) return;
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const turns = document.getElementById("turns");
  const send = document.getElementById("send");
  const stop = document.getElementById("stop");
  const meta = document.getElementById("meta");
  let controller = null;

  function turn(role, text) {
    const div = document.createElement("div");
    div.className = "turn " + role;
    div.textContent = text;
    turns.appendChild(div);
    return div;
  }

  async function usage(id) {
    for (let i = 0; i < 20; i++) {
      const r = await fetch("/ui/answer/" + encodeURIComponent(id));
      if (r.ok) {
        const u = await r.json();
        meta.textContent = u.model + " · " + u.input_tokens + " + " + u.output_tokens + " " +
          meta.dataset.tokens + " · $" + u.cost + (u.status === "cancelled" ? " · " + meta.dataset.stopped : "");
        meta.dataset.status = u.status;
        return;
      }
      await new Promise((ok) => setTimeout(ok, 150));
    }
  }

  stop.addEventListener("click", () => { if (controller) controller.abort(); });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = document.getElementById("message").value;
    if (!message.trim()) return;
    turn("user", message);
    const out = turn("assistant", "");
    controller = new AbortController();
    send.disabled = true; stop.disabled = false; meta.textContent = ""; delete meta.dataset.status;
    let id = null;
    try {
      const r = await fetch("/ui/chat", {
        method: "POST", signal: controller.signal,
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify({ role: document.getElementById("role").value, message,
                               conversation: turns.dataset.conversation || "" }),
      });
      if (!r.ok) { out.textContent = (await r.json()).error.message; return; }
      turns.dataset.conversation = r.headers.get("x-unyo-conversation") || "";
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
          const data = frame.replace(/^data: /, "");
          if (data === "[DONE]") continue;
          const chunk = JSON.parse(data);
          if (chunk.error) { out.textContent += "\n[" + chunk.error.message + "]"; continue; }
          id = chunk.id || id;
          for (const c of chunk.choices || []) if (c.delta && c.delta.content) out.textContent += c.delta.content;
        }
      }
    } catch (e) {
      if (e.name !== "AbortError") out.textContent += "\n[" + e + "]";
    } finally {
      send.disabled = false; stop.disabled = true; controller = null;
      if (id) { window.lastAnswerId = id; usage(id); }
    }
  });
})();
