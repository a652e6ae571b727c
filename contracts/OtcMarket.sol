// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title OtcMarket — an escrow order book with MakerDAO OTC `SimpleMarket` semantics.
/// @notice A maker's `offer` escrows what it sells; anyone may `buy` it, partly or wholly, both
/// legs settling in one transaction; only the maker can `cancel`, which returns the escrow.
/// There is no owner, no pause and no upgrade path: nobody can move escrow except by these rules.
/// @dev Differences from maker-otc, each deliberate:
/// - An offer keeps its original rate (`payAmt`, `buyAmt`) next to the remaining quantity, and a
///   fill of `quantity` costs `ceil(quantity * buyAmt / payAmt)`: the maker is never paid less
///   than its price and the remainder's price never drifts (maker-otc rounded down and re-derived
///   the rate from the remainders, which is why it was migrated in Feb 2019).
/// - Offer ids are `pairId << 64 | sequence`, so each ordered pair's offers are contiguous and a
///   bitmap of active ids lets a bot load one pair's book in a handful of `eth_call`s.
/// - Amounts are limited to 96 bits (7.9e28 base units) so an offer fits in two storage slots.
/// - `requote` replaces a maker's offers atomically and only if the replaced offers still have
///   the remaining amounts the maker expected, netting the escrow per token.
/// - `buyWithin` bounds a take by the pair and the spend the taker read, so a taker that read the
///   book through a node it cannot fully trust pays no more than it saw, for the token it saw.
/// - A dead-man's switch: offers made by `requoteUntil` are guarded, and a guarded offer cannot
///   be taken once its maker's deadline (`setDeadline`, `requoteUntil`) has passed, so a maker
///   whose bot dies is not picked off when the price moves. The maker controls only its own
///   deadline; expired offers stay cancellable and their escrow is untouched.
/// Re-entrancy: every function finishes all its checks and state changes before its first
/// external call, and the market pays out only what its state says, never "its balance". A token
/// that calls back in mid-transfer therefore meets consistent state and can do only what any
/// caller can; a re-entrant move of the token being escrowed also breaks the exact-amount check,
/// which reverts the whole transaction. This saves a storage lock (~2.3k gas) on every call.
contract OtcMarket {
    using SafeERC20 for IERC20;

    // ---------------------------------------------------------------- storage layout
    // Every write here is paid by a market maker re-quoting all day, so each operation touches
    // as few slots as possible:
    // Offer, slot 0: owner (160) | remaining pay amount (96)
    // Offer, slot 1: original pay amount (96) | original buy amount (96) | timestamp (64)
    //                the timestamp's top bit is the guard bit (made by `requoteUntil`): `buy`
    //                reads this slot anyway, so an unguarded take pays no extra storage read.
    // Pair,  slot 0: pay token (160) | next sequence (32) | active bits of the hot window (64)
    // Pair,  slot 1: buy token (160)
    // The hot window is the 64-id block holding the newest offer of the pair. Its active bits
    // live in the pair slot that make, take and cancel read anyway; when a new block starts, the
    // old block's bits move to `_activeWords`, one 256-id word per 4 blocks.
    struct Offer {
        address owner;
        uint96 remaining;
        uint96 payAmt;
        uint96 buyAmt;
        uint64 timestamp;
    }

    struct Pair {
        address payToken;
        uint32 nextSeq;
        uint64 hotBits;
        address buyToken;
    }

    /// @notice One offer as the views return it; amounts in base units.
    struct OfferView {
        uint256 id;
        address owner;
        address payToken;
        address buyToken;
        uint256 payAmt;
        uint256 buyAmt;
        uint256 remaining;
        uint256 remainingBuy;
        uint64 timestamp;
        /// @dev The maker's deadline when the offer is guarded (0: switch off), 0 when unguarded.
        uint256 deadline;
        /// @dev Made by `requoteUntil`: not takable after a non-zero deadline of its maker.
        bool guarded;
    }

    /// @notice A new offer for `offer` or `requote`.
    struct OfferSpec {
        uint256 payAmt;
        address payToken;
        uint256 buyAmt;
        address buyToken;
    }

    /// @notice An offer that `requote` cancels, and the remaining pay amount the caller expects it
    /// to still have; a different amount means it was taken meanwhile and the re-quote reverts.
    struct CancelSpec {
        uint256 id;
        uint256 expectedRemaining;
    }

    uint256 private constant SEQ_BITS = 64;
    uint256 private constant WINDOW_SHIFT = 6; // 64 ids per hot window
    uint256 private constant WINDOW_MASK = 63;
    /// @dev Top bit of `Offer.timestamp`; block timestamps fit in the other 63 bits.
    uint64 private constant GUARD_BIT = uint64(1) << 63;

    uint32 public pairCount;
    mapping(bytes32 pairKey => uint32 pairId) private _pairIds;
    mapping(uint32 pairId => Pair) private _pairs;
    mapping(uint256 id => Offer) private _offers;
    /// @dev Bit `id & 255` of word `id >> 8` is set while offer `id` is active.
    mapping(uint256 word => uint256 bits) private _activeWords;
    /// @dev Unix seconds after which the maker's guarded offers cannot be taken; 0: switch off.
    mapping(address maker => uint256 deadline) private _deadlines;

    // ---------------------------------------------------------------- events (maker-otc shapes)
    event LogMake(
        bytes32 indexed id,
        bytes32 indexed pair,
        address indexed maker,
        IERC20 pay_gem,
        IERC20 buy_gem,
        uint128 pay_amt,
        uint128 buy_amt,
        uint64 timestamp
    );
    event LogTake(
        bytes32 id,
        bytes32 indexed pair,
        address indexed maker,
        IERC20 pay_gem,
        IERC20 buy_gem,
        address indexed taker,
        uint128 take_amt,
        uint128 give_amt,
        uint64 timestamp
    );
    event LogKill(
        bytes32 indexed id,
        bytes32 indexed pair,
        address indexed maker,
        IERC20 pay_gem,
        IERC20 buy_gem,
        uint128 pay_amt,
        uint128 buy_amt,
        uint64 timestamp
    );
    /// @notice Emitted once when an ordered token pair is first offered.
    event LogPair(uint32 indexed pairId, address indexed payToken, address indexed buyToken);
    /// @notice The maker's deadline changed (0: switch off); it applies to all its guarded offers.
    event LogDeadline(address indexed maker, uint256 deadline);
    /// @notice `requoteUntil` made offers `ids` guarded; `deadline` is the maker's deadline now.
    /// @dev `LogMake` keeps maker-otc's shape, so this is how an indexer learns the guard bit.
    event LogGuard(address indexed maker, uint256 deadline, uint256[] ids);

    // ---------------------------------------------------------------- errors
    error ZeroAmount();
    error SameToken(address token);
    error AmountOverflow(uint256 amount);
    error OfferNotActive(uint256 id);
    error NotOfferOwner(uint256 id, address caller);
    error QuantityExceedsRemaining(uint256 id, uint256 quantity, uint256 remaining);
    error UnexpectedRemaining(uint256 id, uint256 expected, uint256 actual);
    error TransferAmountMismatch(address token, uint256 expected, uint256 received);
    error SelfTrade(uint256 id);
    error TooManyPairs();
    error PairExhausted(uint32 pairId);
    error OfferExpired(uint256 id, uint256 deadline);
    error SpendAboveLimit(uint256 id, uint256 spend, uint256 maxSpend);
    error OfferPairMismatch(uint256 id, address payToken, address buyToken);

    // ---------------------------------------------------------------- trading

    /// @notice Escrow `payAmt` of `payToken` and offer it for `buyAmt` of `buyToken`.
    /// @dev The caller must have approved this contract for `payAmt`. Reverts for tokens that
    /// deliver less than asked (fee-on-transfer): escrow must hold exactly what the offer says.
    /// @return id The new offer's id.
    function offer(uint256 payAmt, IERC20 payToken, uint256 buyAmt, IERC20 buyToken)
        external
        returns (uint256 id)
    {
        id = _make(payAmt, address(payToken), buyAmt, address(buyToken));
        _pullExact(address(payToken), msg.sender, payAmt);
    }

    /// @notice Take `quantity` of offer `id`'s pay token, paying `ceil(quantity * buyAmt / payAmt)`
    /// of its buy token straight to the maker.
    /// @dev The caller must have approved this contract for the spend; `spendFor` quotes it.
    /// A guarded offer reverts with `OfferExpired` once its maker's non-zero deadline has passed.
    /// The caller pays the offer's price as it stands on chain: a taker that read the book through
    /// a node it does not fully trust uses `buyWithin`.
    function buy(uint256 id, uint256 quantity) external returns (bool) {
        _take(id, quantity, address(0), address(0), type(uint256).max);
        return true;
    }

    /// @notice `buy`, only if offer `id` sells `payToken` for `buyToken` and the fill costs at
    /// most `maxSpend` of `buyToken`: what the taker saw in the book is what it gets, or nothing.
    /// @dev Reverts `OfferPairMismatch` (another pair) or `SpendAboveLimit` (a dearer price)
    /// before anything moves, like every other check of a take.
    /// @return spend What the fill cost, in `buyToken` base units.
    function buyWithin(uint256 id, uint256 quantity, IERC20 payToken, IERC20 buyToken, uint256 maxSpend)
        external
        returns (uint256 spend)
    {
        if (address(payToken) == address(0) || address(buyToken) == address(0)) {
            revert OfferPairMismatch(id, address(payToken), address(buyToken));
        }
        return _take(id, quantity, address(payToken), address(buyToken), maxSpend);
    }

    /// @dev A take, every check before the first external call; `wantPay`/`wantBuy` zero: any pair.
    function _take(uint256 id, uint256 quantity, address wantPay, address wantBuy, uint256 maxSpend)
        private
        returns (uint256 spend)
    {
        if (quantity == 0) revert ZeroAmount();
        Offer storage o = _offers[id];
        address owner = o.owner;
        uint256 remaining = o.remaining;
        if (owner == address(0)) revert OfferNotActive(id);
        if (owner == msg.sender) revert SelfTrade(id);
        if (quantity > remaining) revert QuantityExceedsRemaining(id, quantity, remaining);
        uint256 payAmt = o.payAmt;
        uint256 buyAmt = o.buyAmt;
        if (o.timestamp & GUARD_BIT != 0) {
            uint256 deadline = _deadlines[owner];
            if (_expired(deadline)) revert OfferExpired(id, deadline);
        }
        spend = _ceilDiv(quantity * buyAmt, payAmt);
        if (spend > maxSpend) revert SpendAboveLimit(id, spend, maxSpend);
        Pair storage pairRef = _pairs[uint32(id >> SEQ_BITS)];
        Pair memory pair = pairRef;
        if (wantPay != address(0) && (pair.payToken != wantPay || pair.buyToken != wantBuy)) {
            revert OfferPairMismatch(id, pair.payToken, pair.buyToken);
        }

        if (quantity == remaining) {
            delete _offers[id];
            _clearActive(pairRef, pair, id);
        } else {
            // Safe: quantity < remaining < 2**96.
            o.remaining = uint96(remaining - quantity);
        }
        emit LogTake(
            bytes32(id),
            _pairKey(pair.payToken, pair.buyToken),
            owner,
            IERC20(pair.payToken),
            IERC20(pair.buyToken),
            msg.sender,
            uint128(quantity),
            uint128(spend),
            uint64(block.timestamp)
        );

        _payExact(pair.buyToken, msg.sender, owner, spend);
        IERC20(pair.payToken).safeTransfer(msg.sender, quantity);
    }

    /// @notice Cancel own offer `id` and get its remaining escrow back.
    function cancel(uint256 id) external returns (bool) {
        (address payToken, uint256 remaining) = _kill(id);
        IERC20(payToken).safeTransfer(msg.sender, remaining);
        return true;
    }

    /// @notice Atomically cancel own offers and place new ones: all or nothing.
    /// @dev Each cancelled offer must still have `expectedRemaining`, so a re-quote never replaces
    /// an offer that was partly taken since the caller looked. Escrow is netted per token: only
    /// the difference between released and newly required escrow moves.
    /// @return ids The new offers' ids, in the order of `offers`.
    function requote(CancelSpec[] calldata cancels, OfferSpec[] calldata offers)
        external
        returns (uint256[] memory ids)
    {
        return _requote(cancels, offers, false, 0);
    }

    /// @notice `requote`, and set the caller's deadline to `deadline` (0: switch off) and make
    /// the new offers guarded: none of them can be taken once a non-zero deadline has passed.
    /// @dev Same checks, netting and return value as `requote`. The deadline is written (and
    /// `LogDeadline` emitted) only when it changes; `LogGuard` names the guarded offers.
    function requoteUntil(CancelSpec[] calldata cancels, OfferSpec[] calldata offers, uint256 deadline)
        external
        returns (uint256[] memory ids)
    {
        _setDeadline(deadline);
        return _requote(cancels, offers, true, deadline);
    }

    /// @notice Set or refresh the caller's deadline (unix seconds; 0 switches it off). After it,
    /// none of the caller's guarded offers can be taken; they stay cancellable. A deadline in the
    /// past pulls them all at once. Only the caller's own deadline can be changed.
    function setDeadline(uint256 deadline) external {
        _setDeadline(deadline);
    }

    // ---------------------------------------------------------------- views

    /// @notice maker-otc compatible: remaining pay amount and its cost in buy token.
    function getOffer(uint256 id) external view returns (uint256, IERC20, uint256, IERC20) {
        OfferView memory v = offerInfo(id);
        return (v.remaining, IERC20(v.payToken), v.remainingBuy, IERC20(v.buyToken));
    }

    /// @notice maker-otc compatible: the offer's maker, or zero when not active.
    function getOwner(uint256 id) external view returns (address) {
        return _offers[id].owner;
    }

    function isActive(uint256 id) public view returns (bool) {
        return _offers[id].owner != address(0);
    }

    /// @notice Whether `buy` would accept offer `id` now: active and, when guarded, not past its
    /// maker's deadline. (A taker's own offer is takable here but not by that taker.)
    function isTakable(uint256 id) external view returns (bool) {
        Offer storage o = _offers[id];
        address owner = o.owner;
        if (owner == address(0)) return false;
        return o.timestamp & GUARD_BIT == 0 || !_expired(_deadlines[owner]);
    }

    /// @notice The deadline of `maker`'s guarded offers, in unix seconds; 0 when switched off.
    function deadlineOf(address maker) external view returns (uint256) {
        return _deadlines[maker];
    }

    /// @notice What buying `quantity` of offer `id` costs, rounded up in the maker's favour.
    function spendFor(uint256 id, uint256 quantity) external view returns (uint256) {
        Offer storage o = _offers[id];
        if (o.owner == address(0)) revert OfferNotActive(id);
        return _ceilDiv(quantity * o.buyAmt, o.payAmt);
    }

    /// @notice Full details of offer `id`; all fields zero except `id` when it is not active.
    /// An expired guarded offer is still active: `deadline` lets a reader tell it apart.
    function offerInfo(uint256 id) public view returns (OfferView memory v) {
        Offer memory o = _offers[id];
        v.id = id;
        if (o.owner == address(0)) return v;
        Pair memory pair = _pairs[uint32(id >> SEQ_BITS)];
        v.owner = o.owner;
        v.payToken = pair.payToken;
        v.buyToken = pair.buyToken;
        v.payAmt = o.payAmt;
        v.buyAmt = o.buyAmt;
        v.remaining = o.remaining;
        v.remainingBuy = _ceilDiv(uint256(o.remaining) * o.buyAmt, o.payAmt);
        v.timestamp = o.timestamp & ~GUARD_BIT;
        if (o.timestamp & GUARD_BIT != 0) {
            v.guarded = true;
            v.deadline = _deadlines[o.owner];
        }
    }

    /// @notice The id of an ordered pair (0 when never offered) and its next offer sequence.
    function pairInfo(IERC20 payToken, IERC20 buyToken) external view returns (uint32 pairId, uint64 nextSeq) {
        pairId = _pairIds[_pairKey(address(payToken), address(buyToken))];
        return (pairId, _pairs[pairId].nextSeq);
    }

    function pairTokens(uint32 pairId) external view returns (address payToken, address buyToken) {
        Pair memory p = _pairs[pairId];
        return (p.payToken, p.buyToken);
    }

    /// @notice Up to `count` active offers of all pairs with id >= `cursor`, in id order.
    /// @return page The offers found.
    /// @return next The cursor for the following call, or 0 when the scan reached the end. A page
    /// may hold fewer than `count` offers while `next` is non-zero: the scan stops after a fixed
    /// number of bitmap words so that a call stays cheap however many offers were closed.
    function getOffers(uint256 cursor, uint256 count)
        external
        view
        returns (OfferView[] memory page, uint256 next)
    {
        return _scan(cursor, pairCount, address(0), count);
    }

    /// @notice Like `getOffers`, restricted to offers selling `payToken` for `buyToken`.
    function getPairOffers(IERC20 payToken, IERC20 buyToken, uint256 cursor, uint256 count)
        external
        view
        returns (OfferView[] memory page, uint256 next)
    {
        uint32 pairId = _pairIds[_pairKey(address(payToken), address(buyToken))];
        if (pairId == 0) return (new OfferView[](0), 0);
        uint256 start = uint256(pairId) << SEQ_BITS;
        if (cursor >> SEQ_BITS > pairId) return (new OfferView[](0), 0);
        return _scan(cursor > start ? cursor : start, pairId, address(0), count);
    }

    /// @notice Like `getOffers`, restricted to offers made by `owner`.
    function getOwnerOffers(address owner, uint256 cursor, uint256 count)
        external
        view
        returns (OfferView[] memory page, uint256 next)
    {
        return _scan(cursor, pairCount, owner, count);
    }

    // ---------------------------------------------------------------- internals

    /// @dev Bitmap words one view call may read (256 ids each) before it returns a cursor.
    uint256 private constant MAX_SCAN_WORDS = 512;

    /// @dev Walks the active bitmap from `cursor` through the ids of pairs up to `lastPair`.
    function _scan(uint256 cursor, uint256 lastPair, address owner, uint256 count)
        private
        view
        returns (OfferView[] memory page, uint256 next)
    {
        page = new OfferView[](count);
        uint256 found;
        uint256 budget = MAX_SCAN_WORDS;
        if (cursor < 1 << SEQ_BITS) cursor = 1 << SEQ_BITS;
        for (uint256 pairId = cursor >> SEQ_BITS; pairId <= lastPair; ++pairId) {
            Pair memory pair = _pairs[uint32(pairId)];
            uint256 endId = (pairId << SEQ_BITS) | pair.nextSeq;
            uint256 word = cursor >> 8;
            uint256 bits = _activeBits(word, pair) & (type(uint256).max << (cursor & 255));
            while (true) {
                while (bits != 0) {
                    uint256 id = (word << 8) | _lowestBit(bits);
                    bits &= bits - 1;
                    if (owner != address(0) && _offers[id].owner != owner) continue;
                    if (found == count) return (_truncate(page, found), id);
                    page[found++] = offerInfo(id);
                }
                if ((++word << 8) >= endId) break;
                if (--budget == 0) return (_truncate(page, found), word << 8);
                bits = _activeBits(word, pair);
            }
            cursor = (pairId + 1) << SEQ_BITS;
        }
        return (_truncate(page, found), 0);
    }

    function _make(uint256 payAmt, address payToken, uint256 buyAmt, address buyToken)
        private
        returns (uint256 id)
    {
        if (payAmt == 0 || buyAmt == 0) revert ZeroAmount();
        if (payAmt > type(uint96).max) revert AmountOverflow(payAmt);
        if (buyAmt > type(uint96).max) revert AmountOverflow(buyAmt);
        if (payToken == buyToken) revert SameToken(payToken);
        bytes32 key = _pairKey(payToken, buyToken);
        uint32 pairId = _pairIds[key];
        if (pairId == 0) pairId = _registerPair(key, payToken, buyToken);
        Pair storage pairRef = _pairs[pairId];
        uint32 seq = pairRef.nextSeq;
        if (seq == type(uint32).max) revert PairExhausted(pairId);
        id = (uint256(pairId) << SEQ_BITS) | seq;
        uint64 hot = pairRef.hotBits;
        if (seq & WINDOW_MASK == 0 && hot != 0) {
            // A new window starts: park the previous window's bits in the long-term bitmap.
            uint256 previous = id - 1;
            _activeWords[previous >> 8] |= uint256(hot) << (previous & (255 & ~WINDOW_MASK));
            hot = 0;
        }
        pairRef.nextSeq = seq + 1;
        pairRef.hotBits = hot | uint64(1 << (seq & WINDOW_MASK));
        _offers[id] = Offer({
            owner: msg.sender,
            remaining: uint96(payAmt),
            payAmt: uint96(payAmt),
            buyAmt: uint96(buyAmt),
            timestamp: uint64(block.timestamp)
        });
        emit LogMake(
            bytes32(id),
            key,
            msg.sender,
            IERC20(payToken),
            IERC20(buyToken),
            uint128(payAmt),
            uint128(buyAmt),
            uint64(block.timestamp)
        );
    }

    /// @dev `requote` and `requoteUntil`: cancels and makes in storage, then the net escrow
    /// moves. `guarded` offers get the guard bit and are announced with the maker's `deadline`.
    function _requote(
        CancelSpec[] calldata cancels,
        OfferSpec[] calldata offers,
        bool guarded,
        uint256 deadline
    ) private returns (uint256[] memory ids) {
        address[] memory tokens = new address[](cancels.length + offers.length);
        int256[] memory owed = new int256[](tokens.length);
        uint256 used;
        for (uint256 i; i < cancels.length; ++i) {
            uint256 actual = _offers[cancels[i].id].remaining;
            if (actual != cancels[i].expectedRemaining) {
                revert UnexpectedRemaining(cancels[i].id, cancels[i].expectedRemaining, actual);
            }
            (address payToken, uint256 remaining) = _kill(cancels[i].id);
            used = _addOwed(tokens, owed, used, payToken, -int256(remaining));
        }
        ids = new uint256[](offers.length);
        for (uint256 i; i < offers.length; ++i) {
            OfferSpec calldata s = offers[i];
            ids[i] = _make(s.payAmt, s.payToken, s.buyAmt, s.buyToken);
            // Set apart from `_make` (a warm re-write, ~200 gas per guarded offer): passing the
            // bit into `_make` cost every unguarded make in a re-quote ~250 gas more.
            if (guarded) _offers[ids[i]].timestamp |= GUARD_BIT;
            used = _addOwed(tokens, owed, used, s.payToken, int256(s.payAmt));
        }
        if (guarded && ids.length != 0) emit LogGuard(msg.sender, deadline, ids);
        for (uint256 i; i < used; ++i) {
            if (owed[i] > 0) {
                _pullExact(tokens[i], msg.sender, uint256(owed[i]));
            } else if (owed[i] < 0) {
                IERC20(tokens[i]).safeTransfer(msg.sender, uint256(-owed[i]));
            }
        }
    }

    function _setDeadline(uint256 deadline) private {
        if (_deadlines[msg.sender] != deadline) {
            _deadlines[msg.sender] = deadline;
            emit LogDeadline(msg.sender, deadline);
        }
    }

    /// @dev Whether a maker's `deadline` has passed; 0 never does.
    function _expired(uint256 deadline) private view returns (bool) {
        return deadline != 0 && block.timestamp > deadline;
    }

    function _registerPair(bytes32 key, address payToken, address buyToken)
        private
        returns (uint32 pairId)
    {
        if (pairCount == type(uint32).max) revert TooManyPairs();
        pairId = ++pairCount;
        _pairIds[key] = pairId;
        _pairs[pairId] = Pair({payToken: payToken, nextSeq: 1, hotBits: 0, buyToken: buyToken});
        emit LogPair(pairId, payToken, buyToken);
    }

    /// @dev Closes own offer `id` in storage; the caller returns the escrow.
    function _kill(uint256 id) private returns (address payToken, uint256 remaining) {
        Offer storage o = _offers[id];
        address owner = o.owner;
        if (owner == address(0)) revert OfferNotActive(id);
        if (owner != msg.sender) revert NotOfferOwner(id, msg.sender);
        remaining = o.remaining;
        uint256 remainingBuy = _ceilDiv(remaining * o.buyAmt, o.payAmt);
        Pair storage pairRef = _pairs[uint32(id >> SEQ_BITS)];
        Pair memory pair = pairRef;
        payToken = pair.payToken;
        delete _offers[id];
        _clearActive(pairRef, pair, id);
        emit LogKill(
            bytes32(id),
            _pairKey(payToken, pair.buyToken),
            owner,
            IERC20(payToken),
            IERC20(pair.buyToken),
            uint128(remaining),
            uint128(remainingBuy),
            uint64(block.timestamp)
        );
    }

    function _clearActive(Pair storage pairRef, Pair memory pair, uint256 id) private {
        if ((id >> WINDOW_SHIFT) == (_newestId(id >> SEQ_BITS, pair.nextSeq) >> WINDOW_SHIFT)) {
            pairRef.hotBits = pair.hotBits & ~uint64(1 << (id & WINDOW_MASK));
        } else {
            _activeWords[id >> 8] &= ~(1 << (id & 255));
        }
    }

    function _newestId(uint256 pairId, uint32 nextSeq) private pure returns (uint256) {
        return (pairId << SEQ_BITS) | (nextSeq - 1);
    }

    /// @dev Active bits of bitmap word `word`, including the pair's hot window when it falls there.
    function _activeBits(uint256 word, Pair memory pair) private view returns (uint256 bits) {
        bits = _activeWords[word];
        uint256 newest = _newestId(word >> (SEQ_BITS - 8), pair.nextSeq);
        if (newest >> 8 == word) {
            bits |= uint256(pair.hotBits) << (newest & (255 & ~WINDOW_MASK));
        }
    }

    /// @dev Moves `amount` from `from` into escrow and checks that exactly `amount` arrived.
    function _pullExact(address token, address from, uint256 amount) private {
        _payExact(token, from, address(this), amount);
    }

    /// @dev Moves `amount` from `from` to `to` and checks that `to` received exactly `amount`.
    function _payExact(address token, address from, address to, uint256 amount) private {
        uint256 before = IERC20(token).balanceOf(to);
        IERC20(token).safeTransferFrom(from, to, amount);
        uint256 received = IERC20(token).balanceOf(to) - before;
        if (received != amount) revert TransferAmountMismatch(token, amount, received);
    }

    function _addOwed(
        address[] memory tokens,
        int256[] memory owed,
        uint256 used,
        address token,
        int256 delta
    ) private pure returns (uint256) {
        for (uint256 i; i < used; ++i) {
            if (tokens[i] == token) {
                owed[i] += delta;
                return used;
            }
        }
        tokens[used] = token;
        owed[used] = delta;
        return used + 1;
    }

    function _truncate(OfferView[] memory page, uint256 length) private pure returns (OfferView[] memory) {
        assembly ("memory-safe") {
            mstore(page, length)
        }
        return page;
    }

    function _pairKey(address payToken, address buyToken) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(payToken, buyToken));
    }

    function _ceilDiv(uint256 a, uint256 b) private pure returns (uint256) {
        return a == 0 ? 0 : (a - 1) / b + 1;
    }

    /// @dev Index of the lowest set bit of a non-zero word (de Bruijn-free binary search).
    function _lowestBit(uint256 x) private pure returns (uint256 r) {
        x &= ~x + 1;
        if (x >= 1 << 128) { x >>= 128; r += 128; }
        if (x >= 1 << 64) { x >>= 64; r += 64; }
        if (x >= 1 << 32) { x >>= 32; r += 32; }
        if (x >= 1 << 16) { x >>= 16; r += 16; }
        if (x >= 1 << 8) { x >>= 8; r += 8; }
        if (x >= 1 << 4) { x >>= 4; r += 4; }
        if (x >= 1 << 2) { x >>= 2; r += 2; }
        if (x >= 1 << 1) { r += 1; }
    }
}
