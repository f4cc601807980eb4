//! The website widget and the agent console as people use them: the real server, and two
//! or more headless Chromium browsers at once driven over WebDriver (tests/support/browser.rs;
//! a failure keeps each browser's screenshot and console log).

use fantoccini::key::Key;
use fantoccini::Locator;
use serde_json::json;

use crate::support::browser::{scenario, Browser};
use crate::support::TestServer;

const PASSWORD: &str = "correct horse battery";

fn enter() -> String {
    char::from(Key::Enter).to_string()
}

async fn sign_in(browser: &Browser, base: &str, email: &str, password: &str) {
    browser.goto(&format!("{base}/console")).await;
    browser.find("#email").await.send_keys(email).await.unwrap();
    browser.find("#password").await.send_keys(password).await.unwrap();
    browser.find("form.signin button[type=submit]").await.click().await.unwrap();
}

/// A visitor opens the demo page and the widget's panel.
async fn open_widget(visitor: &Browser, base: &str) {
    visitor.goto(&format!("{base}/demo")).await;
    visitor.widget(".launcher").await.click().await.unwrap();
}

/// A visitor opens the demo page's widget and starts a chat with a name and a first message.
async fn start_widget_chat(visitor: &Browser, base: &str, name: &str, message: &str) {
    open_widget(visitor, base).await;
    visitor.widget("input[name=name]").await.send_keys(name).await.unwrap();
    visitor.widget("textarea[name=message]").await.send_keys(message).await.unwrap();
    visitor.widget(".prechat button[type=submit]").await.click().await.unwrap();
}

async fn click_button(browser: &Browser, text: &str) {
    let xpath = format!("//button[normalize-space()='{text}']");
    let button = browser
        .client
        .wait()
        .at_most(crate::support::browser::UI_WAIT)
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("{}: no button `{text}`: {e}", browser.name));
    button.click().await.unwrap();
}

async fn badge(browser: &Browser, nav: &str) -> String {
    browser.find(&format!("[data-nav='{nav}'] .badge:not(.mention)")).await.text().await.unwrap()
}

/// Wait until `probe` (a JS expression) is true in the browser.
async fn wait_js(browser: &Browser, probe: &str) {
    let deadline = std::time::Instant::now() + crate::support::browser::UI_WAIT;
    loop {
        let v = browser.client.execute(&format!("return !!({probe});"), vec![]).await.unwrap();
        if v.as_bool() == Some(true) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{}: `{probe}` never became true", browser.name);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_and_an_agent_chat_from_the_widget_to_a_ticket_and_a_close() {
    let server = TestServer::start();
    server.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;
    let base = server.http_url();
    let server = &server;
    scenario("widget_chat_to_ticket", |stage| async move {
        let agent = stage.browser("agent").await;
        sign_in(&agent, &base, "ann@example.com", PASSWORD).await;
        agent.find("[data-nav='queue']").await;

        let visitor = stage.browser("visitor").await;
        visitor.goto(&format!("{base}/demo")).await;
        visitor.widget(".launcher").await.click().await.unwrap();
        visitor.widget("input[name=name]").await.send_keys("Vera Visitor").await.unwrap();
        visitor.widget("input[name=email]").await.send_keys("vera@example.com").await.unwrap();
        visitor.widget("textarea[name=message]").await.send_keys("My printer is on fire").await.unwrap();
        visitor.widget(".prechat button[type=submit]").await.click().await.unwrap();
        visitor.wait_text(true, "in line").await;

        // The agent sees it appear, with a badge and a title count.
        agent.wait_text(false, "Vera Visitor #1").await;
        assert_eq!(badge(&agent, "queue").await, "1");
        assert!(agent.title().await.starts_with("(1)"), "{}", agent.title().await);
        click_button(&agent, "Accept").await;
        agent.wait_text(false, "My printer is on fire").await;
        agent.wait_text(false, "vera@example.com").await;
        agent.wait_text(false, &format!("{base}/demo")).await;
        visitor.wait_text(true, "Ann Agent joined the chat").await;
        // The pre-chat form is gone, really out of sight, once the chat has begun.
        wait_js(&visitor, "getComputedStyle(document.getElementById('switchboard-widget').shadowRoot.querySelector('form.prechat')).display === 'none'").await;

        // Agent → visitor, with the typing indicator first.
        let composer = agent.find("textarea[id^='composer-s']").await;
        composer.send_keys("Let me help you").await.unwrap();
        visitor.wait_text(true, "Ann Agent is typing").await;
        composer.send_keys(&enter()).await.unwrap();
        visitor.wait_text(true, "Let me help you").await;

        // Visitor → agent, typing shown to the agent; the visitor's message is delivered.
        let text = visitor.widget("textarea[name=text]").await;
        text.send_keys("Thanks, it is the LaserJet").await.unwrap();
        agent.wait_text(false, "The visitor is typing").await;
        text.send_keys(&enter()).await.unwrap();
        agent.wait_text(false, "Thanks, it is the LaserJet").await;
        visitor.wait_text(true, "Delivered").await;
        agent.snapshot("console-chat").await;
        visitor.snapshot("widget-chat").await;

        // A reload in the middle continues the same chat, every message there once.
        visitor.client.refresh().await.unwrap();
        visitor.widget(".launcher").await.click().await.unwrap();
        visitor.wait_text(true, "Thanks, it is the LaserJet").await;
        visitor.wait_text(true, "My printer is on fire").await;
        let bubbles: serde_json::Value = visitor
            .client
            .execute(
                "return [...document.getElementById('switchboard-widget').shadowRoot.querySelectorAll('.msg')].map(n => n.firstChild.textContent);",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(bubbles, json!(["My printer is on fire", "Let me help you", "Thanks, it is the LaserJet"]));
        text_after_reload(&visitor, "Still there?").await;
        agent.wait_text(false, "Still there?").await;

        // Create Ticket: shown on the page, stored with the visitor's details and transcript.
        click_button(&agent, "Create ticket").await;
        agent.wait_text(false, "Ticket #1 created").await;
        agent.find("[data-ticket='1']").await;
        let (status, ticket) = server.admin_call("GET", "/api/v1/tickets/1", None).await;
        assert_eq!(status, 200, "{ticket}");
        assert_eq!(ticket["requester_email"], "vera@example.com");
        assert_eq!(ticket["session_id"], 1);
        let description = ticket["description"].as_str().unwrap();
        for said in ["My printer is on fire", "Let me help you", "Thanks, it is the LaserJet", "Still there?"] {
            assert!(description.contains(said), "{said} missing from {description}");
        }

        // Close: the visitor sees the chat ended and can download the transcript.
        click_button(&agent, "Close chat").await;
        visitor.wait_text(true, "This chat has ended").await;
        visitor.widget("button.primary").await; // Download transcript / new chat
        wait_js(&visitor, "document.getElementById('switchboard-widget').shadowRoot.querySelector('.composer').hidden").await;

        // The visitor rates the chat (once); the agent sees it on the chat's page.
        visitor.widget("button.star[aria-label='4 of 5']").await.click().await.unwrap();
        visitor.widget("form.rating textarea[name=comment]").await.send_keys("Quick and kind").await.unwrap();
        visitor.widget("form.rating button[type=submit]").await.click().await.unwrap();
        visitor.wait_text(true, "Thank you for rating this chat (4 of 5).").await;
        wait_js(&visitor, "getComputedStyle(document.getElementById('switchboard-widget').shadowRoot.querySelector('form.rating')).display === 'none'").await;
        agent.find("[data-rating='4']").await;
        agent.wait_text(false, "Quick and kind").await;
    })
    .await;
}

async fn text_after_reload(visitor: &Browser, text: &str) {
    let input = visitor.widget("textarea[name=text]").await;
    input.send_keys(text).await.unwrap();
    input.send_keys(&enter()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn markup_in_names_and_messages_is_shown_as_text_and_a_visitor_sees_only_its_own_chat() {
    let server = TestServer::start();
    server.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;
    let base = server.http_url();
    scenario("markup_is_text", |stage| async move {
        // The agent is online first: with nobody online the widget offers a message form.
        let agent = stage.browser("agent").await;
        sign_in(&agent, &base, "ann@example.com", PASSWORD).await;
        agent.find("[data-nav='queue']").await;
        let visitor = stage.browser("visitor").await;
        visitor.goto(&format!("{base}/demo")).await;
        visitor.widget(".launcher").await.click().await.unwrap();
        let name = "<img src=x onerror=window.__pwned=1>";
        let message = "<script>window.__pwned=2</script><b>bold?</b>";
        visitor.widget("input[name=name]").await.send_keys(name).await.unwrap();
        visitor.widget("textarea[name=message]").await.send_keys(message).await.unwrap();
        visitor.widget(".prechat button[type=submit]").await.click().await.unwrap();
        visitor.wait_text(true, message).await;

        agent.wait_text(false, name).await;
        click_button(&agent, "Open").await;
        agent.wait_text(false, message).await;
        for browser in [&agent, &visitor] {
            let pwned = browser.client.execute("return window.__pwned === undefined;", vec![]).await.unwrap();
            assert_eq!(pwned, json!(true), "{}: markup ran", browser.name);
        }
        let elements = agent.client.execute("return document.querySelectorAll('main img, main b, main script').length;", vec![]).await.unwrap();
        assert_eq!(elements, json!(0), "markup became elements in the console");

        // A paste longer than a message may be is refused with a note and kept in the box.
        let long = "é".repeat(2100); // 4,200 bytes of UTF-8
        visitor
            .client
            .execute(
                "const box = document.getElementById('switchboard-widget').shadowRoot.querySelector('textarea[name=text]');
                 box.value = arguments[0]; box.dispatchEvent(new Event('input'));",
                vec![json!(long)],
            )
            .await
            .unwrap();
        visitor.widget("textarea[name=text]").await.send_keys(&enter()).await.unwrap();
        visitor.wait_text(true, "That message is too long (4200 bytes; at most 4096)").await;
        let kept = visitor.widget("textarea[name=text]").await.prop("value").await.unwrap();
        assert_eq!(kept.as_deref(), Some(long.as_str()), "the paste is kept, not cut");
        let shown = visitor
            .client
            .execute("return document.getElementById('switchboard-widget').shadowRoot.querySelectorAll('.msg').length;", vec![])
            .await
            .unwrap();
        assert_eq!(shown, json!(1), "only the first message was sent");

        // Another visitor (another browser) gets a fresh form, not the first chat.
        let other = stage.browser("other-visitor").await;
        other.goto(&format!("{base}/demo")).await;
        other.widget(".launcher").await.click().await.unwrap();
        other.widget("textarea[name=message]").await;
        let shown = other
            .client
            .execute("return document.getElementById('switchboard-widget').shadowRoot.querySelectorAll('.msg').length;", vec![])
            .await
            .unwrap();
        assert_eq!(shown, json!(0));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_refused_and_signing_out_ends_the_console_session() {
    let server = TestServer::start();
    server.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;
    let base = server.http_url();
    scenario("sign_in_refused", |stage| async move {
        let agent = stage.browser("agent").await;
        sign_in(&agent, &base, "ann@example.com", "not the password").await;
        agent.wait_text(false, "Wrong email or password.").await;
        agent.client.refresh().await.unwrap();
        agent.find("form.signin").await; // still signed out
        agent.find("#email").await.clear().await.unwrap();
        sign_in(&agent, &base, "ann@example.com", PASSWORD).await;
        agent.find("[data-nav='queue']").await;
        // The cookie is HttpOnly: scripts cannot read it.
        let cookies = agent.client.execute("return document.cookie;", vec![]).await.unwrap();
        assert_eq!(cookies, json!(""));

        // A second tab of the same browser is signed in too; signing out there ends the
        // session in the first tab as well, with a clear message.
        let first = agent.client.window().await.unwrap();
        let second = agent.client.new_window(true).await.unwrap();
        agent.client.switch_to_window(second.handle.clone()).await.unwrap();
        agent.goto(&format!("{base}/console")).await;
        agent.find("[data-nav='queue']").await;
        click_button(&agent, "Sign out").await;
        agent.find("form.signin").await;
        agent.client.switch_to_window(first).await.unwrap();
        agent.wait_text(false, "Your session ended. Please sign in again.").await;
        agent.find("form.signin").await;
        agent.client.refresh().await.unwrap();
        agent.find("form.signin").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_agents_talk_in_a_private_channel_a_third_never_sees_with_unread_mentions_and_slash_commands() {
    let server = TestServer::start();
    server.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;
    server.console_agent("Bob Builder", "bob@example.com", PASSWORD).await;
    server.console_agent("Cat Carter", "cat@example.com", PASSWORD).await;
    let base = server.http_url();
    scenario("private_channel", |stage| async move {
        let ann = stage.browser("ann").await;
        let bob = stage.browser("bob").await;
        sign_in(&ann, &base, "ann@example.com", PASSWORD).await;
        sign_in(&bob, &base, "bob@example.com", PASSWORD).await;
        bob.find("[data-nav='queue']").await;
        let cat = stage.browser("cat").await;
        sign_in(&cat, &base, "cat@example.com", PASSWORD).await;

        click_button(&ann, "+ New").await;
        ann.find("#nc-name").await.send_keys("launch-plans").await.unwrap();
        ann.find("#nc-description").await.send_keys("Friday's launch").await.unwrap();
        ann.find("#nc-private").await.click().await.unwrap();
        ann.find("#nc-members").await.send_keys("@bob").await.unwrap();
        click_button(&ann, "Create channel").await;
        ann.wait_text(false, "Bob Builder").await; // the members list

        // Bob is invited: the channel appears in his sidebar; a mention counts on both badges.
        bob.wait_text(false, "launch-plans").await;

        let composer = ann.find("textarea[id^='composer-c']").await;
        composer.send_keys(&format!("@bob can you review the checklist?{}", enter())).await.unwrap();
        ann.wait_text(false, "can you review the checklist?").await;
        let nav = "channel:1";
        wait_js(&bob, "document.querySelector(\"[data-nav='channel:1'] .badge.mention\")").await;
        assert_eq!(badge(&bob, nav).await, "1");
        let mention = bob.find("[data-nav='channel:1'] .badge.mention").await.text().await.unwrap();
        assert_eq!(mention, "1");
        assert!(bob.title().await.starts_with("(1)"), "{}", bob.title().await);

        // Opening the channel reads it: the badges go.
        bob.find("[data-nav='channel:1']").await.click().await.unwrap();
        bob.wait_text(false, "can you review the checklist?").await;
        wait_js(&bob, "!document.querySelector(\"[data-nav='channel:1'] .badge.mention\")").await;

        // Slash-command autocomplete from the server, filtered as Bob types.
        let input = bob.find("textarea[id^='composer-c']").await;
        input.send_keys("/to").await.unwrap();
        bob.wait_text(false, "/topic <text>").await;
        let listed = bob
            .client
            .execute(
                "return [...document.querySelectorAll('.commands li .usage')].map(n => n.textContent);",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(listed, json!(["/topic <text>"]));
        input.send_keys(&char::from(Key::Tab).to_string()).await.unwrap();
        input.send_keys(&format!("Launch on Friday{}", enter())).await.unwrap();
        // Everyone sees the topic; Bob's reply reaches Ann live.
        ann.wait_text(false, "Launch on Friday").await;
        input.send_keys(&format!("Done, looks good{}", enter())).await.unwrap();
        ann.wait_text(false, "Done, looks good").await;
        ann.snapshot("console-channel").await;

        // Cat, signed in all along but not invited, never saw the private channel, live or
        // after a reload.
        for reload in [false, true] {
            if reload {
                cat.client.refresh().await.unwrap();
            }
            cat.find("[data-nav='queue']").await;
            let text = cat.client.execute("return document.body.innerText;", vec![]).await.unwrap();
            assert!(
                !text.as_str().unwrap().contains("launch-plans"),
                "a non-member sees the private channel:\n{text}"
            );
        }
    })
    .await;
}

/// The texts of the message bubbles an agent's console shows.
async fn console_messages(browser: &Browser) -> Vec<String> {
    let texts = browser
        .client
        .execute(
            "return [...document.querySelectorAll('main .msg')].map(n => n.firstChild.textContent);",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(texts).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_widget_and_the_console_ride_out_a_server_crash_and_lose_nothing() {
    let mut server = TestServer::start();
    server.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;
    let base = server.http_url();
    let server = &mut server;
    scenario("server_crash", |stage| async move {
        let agent = stage.browser("agent").await;
        sign_in(&agent, &base, "ann@example.com", PASSWORD).await;
        agent.find("[data-nav='queue']").await;
        let visitor = stage.browser("visitor").await;
        visitor.goto(&format!("{base}/demo")).await;
        visitor.widget(".launcher").await.click().await.unwrap();
        visitor.widget("input[name=name]").await.send_keys("Vera Visitor").await.unwrap();
        visitor.widget("textarea[name=message]").await.send_keys("Hello?").await.unwrap();
        // The server is down when the visitor presses Start: it says so, and keeps what was typed.
        server.kill9();
        visitor.widget(".prechat button[type=submit]").await.click().await.unwrap();
        visitor.wait_text(true, "We could not reach the chat right now").await;
        let kept = visitor.widget("textarea[name=message]").await.prop("value").await.unwrap();
        assert_eq!(kept.as_deref(), Some("Hello?"));
        server.restart_same_port();
        visitor.widget(".prechat button[type=submit]").await.click().await.unwrap();
        agent.wait_text(false, "Vera Visitor #1").await;
        click_button(&agent, "Accept").await;
        visitor.wait_text(true, "Ann Agent joined the chat").await;

        // The server dies (kill -9). Both sides say so; the visitor types on regardless.
        server.kill9();
        visitor.wait_text(true, "Reconnecting").await;
        agent.wait_text(false, "Connection lost").await;
        let input = visitor.widget("textarea[name=text]").await;
        input.send_keys(&format!("Typed while you were away{}", enter())).await.unwrap();
        visitor.wait_text(true, "Typed while you were away").await;
        let pending: serde_json::Value = visitor
            .client
            .execute("return JSON.parse(localStorage.getItem(Object.keys(localStorage).find(k => k.startsWith('switchboard-chat:')))).pending.length;", vec![])
            .await
            .unwrap();
        assert_eq!(pending, json!(1), "the unsent message is kept in localStorage");

        // Back on the same address: both reconnect by themselves, the message is sent once.
        server.restart_same_port();
        agent.wait_text(false, "Typed while you were away").await;
        wait_js(
            &visitor,
            "[...document.getElementById('switchboard-widget').shadowRoot.querySelectorAll('.msg.visitor')]
               .some(n => n.firstChild.textContent === 'Typed while you were away' && n.innerText.includes('Delivered'))",
        )
        .await;
        let composer = agent.find("textarea[id^='composer-s']").await;
        composer.send_keys(&format!("Sorry, we had a hiccup{}", enter())).await.unwrap();
        visitor.wait_text(true, "Sorry, we had a hiccup").await;
        assert_eq!(console_messages(&agent).await, ["Hello?", "Typed while you were away", "Sorry, we had a hiccup"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_transfers_a_chat_with_a_note_and_the_receiver_declines_then_accepts() {
    let server = TestServer::start();
    server.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;
    server.console_agent("Bob Builder", "bob@example.com", PASSWORD).await;
    let base = server.http_url();
    scenario("transfer", |stage| async move {
        let ann = stage.browser("ann").await;
        let bob = stage.browser("bob").await;
        sign_in(&ann, &base, "ann@example.com", PASSWORD).await;
        sign_in(&bob, &base, "bob@example.com", PASSWORD).await;
        bob.find("[data-nav='queue']").await;
        let visitor = stage.browser("visitor").await;
        start_widget_chat(&visitor, &base, "Vera Visitor", "I need a refund").await;
        ann.wait_text(false, "Vera Visitor #1").await;
        click_button(&ann, "Accept").await;
        visitor.wait_text(true, "Ann Agent joined the chat").await;

        // Ann hands it to Bob with a note; Bob is told, sees the note, and declines.
        click_button(&ann, "Transfer").await;
        ann.find("#transfer-to-1").await.send_keys("@bob").await.unwrap();
        ann.find("#transfer-note-1").await.send_keys("Refund over 100 EUR, needs a lead").await.unwrap();
        click_button(&ann, "Send transfer").await;
        ann.wait_text(false, "Transfer offered to @bob").await;
        bob.wait_text(false, "Transferred to you by Ann Agent").await;
        bob.wait_text(false, "Refund over 100 EUR, needs a lead").await;
        assert!(bob.title().await.starts_with("(1)"), "{}", bob.title().await);
        click_button(&bob, "Decline transfer").await;
        ann.wait_text(false, "did not happen (declined); you keep the chat").await;

        // Again, without a note: Bob accepts, gets the chat with its transcript, and answers.
        click_button(&ann, "Transfer").await;
        ann.find("#transfer-to-1").await.send_keys("@bob").await.unwrap();
        click_button(&ann, "Send transfer").await;
        click_button(&bob, "Accept transfer").await;
        bob.wait_text(false, "I need a refund").await;
        let composer = bob.find("textarea[id^='composer-s']").await;
        composer.send_keys(&format!("Bob here, I can approve that{}", enter())).await.unwrap();
        visitor.wait_text(true, "Bob here, I can approve that").await;
        // Ann no longer holds it: no composer, no Close button.
        wait_js(&ann, "!document.querySelector(\"textarea[id^='composer-s']\")").await;
        ann.wait_text(false, "active (Bob Builder)").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_with_a_one_time_password_chooses_their_own_at_the_first_sign_in() {
    let server = TestServer::start();
    let id = server.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;
    let (status, _) = server
        .admin_call(
            "PUT",
            &format!("/api/v1/agents/{id}/login"),
            Some(json!({"password": "one-time-4711", "temporary": true})),
        )
        .await;
    assert_eq!(status, 200);
    let base = server.http_url();
    scenario("one_time_password", |stage| async move {
        let agent = stage.browser("agent").await;
        sign_in(&agent, &base, "ann@example.com", "one-time-4711").await;
        agent.wait_text(false, "Choose your password").await;
        agent.find("#new_password").await.send_keys("my own passphrase").await.unwrap();
        agent.find("#repeat").await.send_keys("my own passphrase, typo").await.unwrap();
        click_button(&agent, "Save and continue").await;
        agent.wait_text(false, "The two passwords differ.").await;
        agent.find("#repeat").await.clear().await.unwrap();
        agent.find("#repeat").await.send_keys("my own passphrase").await.unwrap();
        click_button(&agent, "Save and continue").await;
        agent.find("[data-nav='queue']").await;
        agent.client.refresh().await.unwrap();
        agent.find("[data-nav='queue']").await; // still signed in, with the new password
    })
    .await;
}

/// The weekday (`mon` … `sun`) of tomorrow, UTC.
fn tomorrow_utc() -> &'static str {
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 86_400;
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][((days + 1 + 3) % 7) as usize]
}

#[tokio::test(flavor = "multi_thread")]
async fn with_nobody_online_or_outside_the_hours_a_visitor_leaves_a_message_that_becomes_a_ticket() {
    let server = TestServer::start();
    server.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;
    let base = server.http_url();
    let server = &server;
    scenario("offline_message", |stage| async move {
        // Nobody is online: the widget says so and offers the message form, not a chat.
        let visitor = stage.browser("visitor").await;
        open_widget(&visitor, &base).await;
        visitor.wait_text(true, "No one is available to chat right now.").await;
        visitor.snapshot("widget-offline").await;
        visitor.widget(".offline input[name=name]").await.send_keys("Vera <b>Visitor</b>").await.unwrap();
        visitor.widget(".offline input[name=email]").await.send_keys("not an email").await.unwrap();
        visitor.widget(".offline textarea[name=message]").await.send_keys("Please call me back").await.unwrap();
        visitor.widget(".offline button[type=submit]").await.click().await.unwrap();
        // The browser's own check stops a bad email; the form stays, nothing is sent.
        let (_, page) = server.admin_call("GET", "/api/v1/tickets", None).await;
        assert_eq!(page["tickets"], json!([]));
        visitor.widget(".offline input[name=email]").await.clear().await.unwrap();
        visitor.widget(".offline input[name=email]").await.send_keys("vera@example.com").await.unwrap();
        visitor.widget(".offline button[type=submit]").await.click().await.unwrap();
        visitor.wait_text(true, "Thank you! We have your message and will answer at vera@example.com.").await;
        let (_, page) = server.admin_call("GET", "/api/v1/tickets", None).await;
        let ticket = &page["tickets"][0];
        assert_eq!(
            (&ticket["source"], &ticket["requester_name"], &ticket["requester_email"]),
            (&json!("left_message"), &json!("Vera <b>Visitor</b>"), &json!("vera@example.com")),
            "{page}"
        );
        assert!(ticket["description"].as_str().unwrap().starts_with("Please call me back"), "{ticket}");

        // An agent online, but outside the department's hours: closed, with the next opening.
        let hours = json!({"time_zone": "UTC", "weekly": [{"day": tomorrow_utc(), "open": "10:00", "close": "11:00"}]});
        let (status, body) = server.admin_call("PATCH", "/api/v1/departments/1", Some(json!({"hours": hours}))).await;
        assert_eq!(status, 200, "{body}");
        let agent = stage.browser("agent").await;
        sign_in(&agent, &base, "ann@example.com", PASSWORD).await;
        agent.find("[data-nav='queue']").await;
        let late = stage.browser("late-visitor").await;
        open_widget(&late, &base).await;
        late.wait_text(true, "We are closed right now; we open again").await;
        // Inside the hours (cleared: always open) with the agent online: the chat form.
        server.admin_call("PATCH", "/api/v1/departments/1", Some(json!({"hours": null}))).await;
        late.client.refresh().await.unwrap();
        late.widget(".launcher").await.click().await.unwrap();
        late.wait_text(true, "Hi! How can we help you today?").await;
        let offline_shown = late
            .client
            .execute("return !document.getElementById('switchboard-widget').shadowRoot.querySelector('.offline').hidden;", vec![])
            .await
            .unwrap();
        assert_eq!(offline_shown, json!(false));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_administrator_manages_folders_agents_and_department_hours_from_the_console() {
    let server = TestServer::start();
    let ann = server.console_agent("Ann Admin", "ann@example.com", PASSWORD).await;
    let (status, _) =
        server.admin_call("PATCH", &format!("/api/v1/agents/{ann}"), Some(json!({"admin": true}))).await;
    assert_eq!(status, 200);
    let base = server.http_url();
    let server = &server;
    scenario("administration", |stage| async move {
        let admin = stage.browser("admin").await;
        sign_in(&admin, &base, "ann@example.com", PASSWORD).await;

        // Folders: create two, put the second first, rename one, delete it.
        admin.find("[data-nav='admin-folders']").await.click().await.unwrap();
        for name in ["Engineering", "Management"] {
            admin.find("input[aria-label='New folder name']").await.send_keys(name).await.unwrap();
            click_button(&admin, "Create folder").await;
            admin.wait_text(false, "Folder created.").await;
            admin.find(&format!("input[aria-label='Name of folder {name}']")).await;
        }
        admin.find("button[aria-label='Move Management up']").await.click().await.unwrap();
        admin.wait_text(false, "Folder moved.").await;
        let (_, folders) = server.admin_call("GET", "/api/v1/folders", None).await;
        let names: Vec<_> =
            folders.as_array().unwrap().iter().map(|f| (f["name"].clone(), f["position"].clone())).collect();
        assert_eq!(
            names,
            vec![(json!("Management"), json!(0)), (json!("Engineering"), json!(1))],
            "{folders}"
        );
        let rename = admin.find("input[aria-label='Name of folder Engineering']").await;
        rename.clear().await.unwrap();
        rename.send_keys("Platform").await.unwrap();
        rename.send_keys(&enter()).await.unwrap();
        admin.wait_text(false, "Folder renamed.").await;
        // A name taken (ignoring case) is refused with the server's reason.
        let again = admin.find("input[aria-label='Name of folder Platform']").await;
        again.clear().await.unwrap();
        again.send_keys("management").await.unwrap();
        again.send_keys(&enter()).await.unwrap();
        admin.wait_text(false, "exists").await;
        admin.find("button[aria-label='Delete folder Platform']").await.click().await.unwrap();
        admin.wait_text(false, "Folder deleted").await;
        let (_, folders) = server.admin_call("GET", "/api/v1/folders", None).await;
        assert_eq!(folders.as_array().unwrap().len(), 1, "{folders}");

        // Agents: a new agent with a one-time password, who signs in and chooses their own.
        admin.find("[data-nav='admin-agents']").await.click().await.unwrap();
        admin
            .find("input[aria-label=\"New agent's name\"]")
            .await
            .send_keys("Cat <i>Colleague</i>")
            .await
            .unwrap();
        admin
            .find("input[aria-label=\"New agent's sign-in email\"]")
            .await
            .send_keys("cat@example.com")
            .await
            .unwrap();
        admin
            .find("input[aria-label=\"New agent's one-time password\"]")
            .await
            .send_keys("first-day-2026")
            .await
            .unwrap();
        click_button(&admin, "Create agent").await;
        admin.wait_text(false, "Agent created").await;
        // Names are shown as text: in an input's value, not as markup.
        let name = admin.find("input[aria-label='Name of Cat <i>Colleague</i>']").await;
        assert_eq!(name.prop("value").await.unwrap().as_deref(), Some("Cat <i>Colleague</i>"));
        admin.snapshot("console-admin-agents").await;
        let cat = stage.browser("cat").await;
        sign_in(&cat, &base, "cat@example.com", "first-day-2026").await;
        cat.wait_text(false, "Choose your password").await;
        cat.find("#new_password").await.send_keys("cats own passphrase").await.unwrap();
        cat.find("#repeat").await.send_keys("cats own passphrase").await.unwrap();
        click_button(&cat, "Save and continue").await;
        cat.find("[data-nav='queue']").await;
        let admin_pages = cat
            .client
            .execute("return document.querySelectorAll(\"[data-nav^='admin-']\").length;", vec![])
            .await
            .unwrap();
        assert_eq!(admin_pages, json!(0), "a plain agent sees no administration pages");

        // Departments: a new one with Cat in it; `general` gets hours that make it closed now.
        admin.find("[data-nav='admin-departments']").await.click().await.unwrap();
        admin.find("input[aria-label=\"New department's name\"]").await.send_keys("night").await.unwrap();
        click_button(&admin, "Create department").await;
        admin.wait_text(false, "Department created.").await;
        admin.find("input[aria-label='Cat <i>Colleague</i> in night']").await.click().await.unwrap();
        click_button(&admin, "Save night").await;
        admin.wait_text(false, "Saved night.").await;
        let hours = admin.find("input[aria-label='Business hours of general']").await;
        hours.send_keys(&format!("{} 10:00-11:00", tomorrow_utc())).await.unwrap();
        let zone = admin.find("input[aria-label='Time zone of general']").await;
        zone.clear().await.unwrap();
        zone.send_keys("UTC").await.unwrap();
        click_button(&admin, "Save general").await;
        admin.wait_text(false, "Saved general.").await;
        admin.snapshot("console-admin-departments").await;
        let (_, departments) = server.admin_call("GET", "/api/v1/departments", None).await;
        let general = &departments[0];
        assert_eq!(general["hours"]["time_zone"], "UTC", "{general}");
        assert_eq!(general["hours"]["weekly"][0]["day"], tomorrow_utc(), "{general}");
        assert_eq!(general["agents"].as_array().unwrap().len(), 2, "new agents join general: {general}");
        let night = &departments[1];
        assert_eq!(
            (&night["name"], night["agents"].as_array().unwrap().len()),
            (&json!("night"), 1),
            "{night}"
        );
        // Bad hours are refused with the server's reason, and nothing changes.
        let hours = admin.find("input[aria-label='Business hours of general']").await;
        hours.clear().await.unwrap();
        hours.send_keys("mon 09:00-25:00").await.unwrap();
        click_button(&admin, "Save general").await;
        admin.wait_text(false, "is not a time of day").await;
        let (_, after) = server.admin_call("GET", "/api/v1/departments", None).await;
        assert_eq!(after[0]["hours"], general["hours"]);

        let visitor = stage.browser("visitor").await;
        open_widget(&visitor, &base).await;
        visitor.wait_text(true, "We are closed right now; we open again").await;
    })
    .await;
}

/// A cluster of two nodes: the widget, embedded from node 1 with node 2 in `data-servers`,
/// keeps its chat when node 1 dies: it reconnects to node 2 by itself and resumes, and the
/// agent, whose console is on node 2, sees what the visitor types next and answers.
#[tokio::test(flavor = "multi_thread")]
async fn the_widget_moves_to_the_next_node_when_its_node_dies() {
    use crate::support::cluster::{start_node, wait_settled, NatsCluster};
    let nats = NatsCluster::start(1);
    let mut first = start_node(&nats, "b1", 2_000);
    let second = start_node(&nats, "b2", 2_000);
    wait_settled(&[&first, &second]).await;
    first.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;
    // Ann's login reaches node 2 through the log.
    let deadline = std::time::Instant::now() + crate::support::browser::UI_WAIT;
    while crate::console::sign_in(&second, "ann@example.com", PASSWORD).await.0 != 200 {
        assert!(std::time::Instant::now() < deadline, "Ann's login never reached node 2");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (one, two) = (first.http_url(), second.http_url());
    // A company's page embedding the widget from node 1, naming node 2 as the next address.
    let site = tempfile::tempdir().unwrap();
    let page = site.path().join("index.html");
    std::fs::write(
        &page,
        format!(
            "<!doctype html><html><head><meta charset=utf-8><title>Shop</title></head><body><h1>Shop</h1>\
             <script src=\"{one}/widget.js\" data-servers=\"{two}\" async></script></body></html>"
        ),
    )
    .unwrap();
    let page = format!("file://{}", page.display());
    let first = &mut first;
    scenario("widget_next_node", |stage| async move {
        let agent = stage.browser("agent").await;
        sign_in(&agent, &two, "ann@example.com", PASSWORD).await;
        agent.find("[data-nav='queue']").await;
        // Node 1 hears that Ann is connected to node 2 (the presence every node tells).
        tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
        let visitor = stage.browser("visitor").await;
        visitor.goto(&page).await;
        visitor.widget(".launcher").await.click().await.unwrap();
        visitor.widget("input[name=name]").await.send_keys("Vera Visitor").await.unwrap();
        visitor.widget("textarea[name=message]").await.send_keys("Hello from the shop").await.unwrap();
        visitor.widget(".prechat button[type=submit]").await.click().await.unwrap();
        agent.wait_text(false, "Vera Visitor").await;
        click_button(&agent, "Accept").await;
        visitor.wait_text(true, "Ann Agent joined the chat").await;

        // Node 1, where the widget is connected and the chat lives, dies.
        first.kill9();
        let input = visitor.widget("textarea[name=text]").await;
        input.send_keys(&format!("Are you still there?{}", enter())).await.unwrap();
        // The widget reconnects to node 2 and resumes; the message arrives once.
        agent.wait_text(false, "Are you still there?").await;
        wait_js(
            &visitor,
            "[...document.getElementById('switchboard-widget').shadowRoot.querySelectorAll('.msg.visitor')]
               .some(n => n.firstChild.textContent === 'Are you still there?' && n.innerText.includes('Delivered'))",
        )
        .await;
        let composer = agent.find("textarea[id^='composer-s']").await;
        composer.send_keys(&format!("Yes, still here{}", enter())).await.unwrap();
        visitor.wait_text(true, "Yes, still here").await;
        assert_eq!(console_messages(&agent).await, ["Hello from the shop", "Are you still there?", "Yes, still here"]);
    })
    .await;
}
