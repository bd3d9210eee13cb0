import MediaRelay
import SDP
import SIP

/// The two sides of a bridged call: `a` sent us the INVITE, `b` is the leg we originate.
enum Side: Int, Sendable {
    case a = 0, b = 1
    var other: Side { self == .a ? .b : .a }
    /// The relay's leg name.
    var legName: String { self == .a ? "caller" : "callee" }
}

/// One side's signaling and media state.
final class CallLeg {
    var connection: ConnectionID?
    /// Where to connect when the connection is gone (the target, then the dialog's next hop).
    var hop: NextHop?
    /// The leg runs over TLS: our Via and Contact on it say so (RFC 3261 §18.2.1, §20.10).
    var tls = false
    var callID: String
    var localTag: String
    var dialog: Dialog?
    /// The peer's audio stream as last described.
    var remote: AudioStream?
    /// Where the peer receives, as last described (nil before it is known or on hold).
    var remoteAddress: MediaAddress? {
        guard let remote, remote.address != "0.0.0.0", remote.address != "::" else { return nil }
        return MediaAddress(host: remote.address, port: remote.port)
    }
    /// Our key on this leg (what we protect towards the peer with) and the peer's.
    var localKey: CryptoAttribute?
    var remoteKey: CryptoAttribute?
    /// Our media address on this leg.
    var local: OfferAnswer.Local?
    /// The last description we sent on this leg (re-sent when a re-INVITE has no offer).
    var lastSDP: SessionDescription?
    /// We answered an offerless re-INVITE with an offer: its ACK carries the answer (RFC 3261 §14.2).
    var answerInAck = false
    // RFC 4028 on this leg.
    var sessionInterval: Int?
    /// Whether the satellite is this leg's refresher (RFC 4028 §7.4), as negotiated.
    var weRefresh = false
    var refreshAt: Double?
    var expiresAt: Double?
    /// The peer refused UPDATE (405/501): refresh with re-INVITE instead (RFC 4028 §10).
    var refreshWithInvite = false

    init(callID: String, localTag: String) {
        self.callID = callID
        self.localTag = localTag
    }

    /// Restarts the session timer after a refresh (RFC 4028 §10): we refresh at half the
    /// interval and give up at its end; a peer that refreshes gets the interval minus
    /// min(32, interval/3).
    func sessionRefreshed(now: Double, weRefresh: Bool) {
        self.weRefresh = weRefresh
        sessionRefreshed(now: now)
    }

    /// A refresh happened: the timers start again, roles unchanged.
    func sessionRefreshed(now: Double) {
        guard let se = sessionInterval.map(Double.init) else { return }
        if weRefresh {
            refreshAt = now + se / 2
            expiresAt = now + se
        } else {
            refreshAt = nil
            expiresAt = now + se - min(32, se / 3)
        }
    }
}

/// A re-INVITE we are relaying from one side to the other.
struct PendingReinvite {
    let from: Side
    /// When the relay gives up waiting for the other side's final answer.
    let deadline: Double
    let serverKey: ServerTransaction.Key
    let offer: SessionDescription
    let audioIndex: Int
    let stream: AudioStream
    /// The sender's new key and ours towards it (nil: plain RTP), and the relay changes they
    /// need: applied when the other side accepts, dropped when it refuses.
    let chosenKey: CryptoAttribute?
    let localKey: CryptoAttribute?
    let apply: [CoreAction]
}

enum CallState: String {
    /// Waiting for the relay's ports.
    case allocating
    /// INVITE sent to the target; ringing.
    case calling
    /// 200 sent to the caller; waiting for its ACK.
    case answering
    case confirmed
}

final class Call {
    let id: String
    var state: CallState = .allocating
    let legs: [CallLeg]
    /// The caller's INVITE and its description.
    let invite: SIPMessage
    let inviteKey: ServerTransaction.Key
    let offer: SessionDescription
    let offerIndex: Int
    let offerStream: AudioStream
    /// The caller's key we accepted; nil when the caller's leg is plain RTP.
    let chosenKey: CryptoAttribute?
    let target: SIPURI
    /// Plain RTP towards the target (`X-Trabant-Target-Media: rtp`).
    var plainTarget = false
    /// Our INVITE to the target and the keys it offered.
    var outgoingInvite: SIPMessage?
    var offeredKeys: [CryptoAttribute] = []
    /// The answer we give the caller, made once from the target's answer.
    var answerToA: SessionDescription?
    var media: CallInfo?
    var ringDeadline: Double?
    var ackDeadline: Double?
    var pending: PendingReinvite?
    var cancelled = false
    let startedAt: Double
    /// RFC 4028 as the caller asked (interval, who refreshes).
    var callerSessionExpires: (Int, String)?

    init(
        id: String, invite: SIPMessage, inviteKey: ServerTransaction.Key, offer: SessionDescription, offerIndex: Int,
        offerStream: AudioStream, chosenKey: CryptoAttribute?, target: SIPURI, aLeg: CallLeg, bLeg: CallLeg, now: Double
    ) {
        self.id = id
        self.invite = invite
        self.inviteKey = inviteKey
        self.offer = offer
        self.offerIndex = offerIndex
        self.offerStream = offerStream
        self.chosenKey = chosenKey
        self.target = target
        self.legs = [aLeg, bLeg]
        self.startedAt = now
    }

    subscript(side: Side) -> CallLeg { legs[side.rawValue] }
}

/// Why a client transaction was started, so its responses go to the right handler.
enum ClientPurpose {
    case invite, reinvite, bye, cancel, refresh
}

/// A reference, so the tables update transactions in place without copying messages.
final class ClientRecord {
    var transaction: ClientTransaction
    let call: String
    let side: Side
    let purpose: ClientPurpose
    /// The leg it was sent on: its ACK or CANCEL still goes there after the call ended.
    let leg: CallLeg
    /// A CANCEL waits for the INVITE's first provisional response (RFC 3261 §9.1).
    var cancelWhenRinging = false
    /// The deadline last put on the timer heap.
    var scheduled: Double?

    init(transaction: ClientTransaction, call: String, side: Side, purpose: ClientPurpose, leg: CallLeg) {
        self.transaction = transaction
        self.call = call
        self.side = side
        self.purpose = purpose
        self.leg = leg
    }
}

final class ServerRecord {
    var transaction: ServerTransaction
    let call: String
    let side: Side
    /// The connection the request came on: its responses go back there (RFC 3261 §18.2.2).
    let connection: ConnectionID
    var connectionOpen = true

    init(transaction: ServerTransaction, call: String, side: Side, connection: ConnectionID) {
        self.transaction = transaction
        self.call = call
        self.side = side
        self.connection = connection
    }
}
