// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @dev Test-only tokens that misbehave the ways real ERC20s do. Never deploy outside tests.

/// @dev Minimal balances and allowances shared by the hostile tokens.
abstract contract BaseTestToken {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    uint256 public totalSupply;
    uint8 public constant decimals = 18;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
        totalSupply += amount;
        emit Transfer(address(0), to, amount);
    }

    function _approve(address spender, uint256 amount) internal {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
    }

    function _move(address from, address to, uint256 amount) internal virtual {
        require(balanceOf[from] >= amount, "balance");
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }

    function _spend(address from, uint256 amount) internal {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= amount, "allowance");
        if (allowed != type(uint256).max) allowance[from][msg.sender] = allowed - amount;
    }
}

/// @dev USDT style: transfer functions return nothing.
contract NoReturnToken is BaseTestToken {
    function approve(address spender, uint256 amount) external {
        _approve(spender, amount);
    }

    function transfer(address to, uint256 amount) external {
        _move(msg.sender, to, amount);
    }

    function transferFrom(address from, address to, uint256 amount) external {
        _spend(from, amount);
        _move(from, to, amount);
    }
}

/// @dev Returns false instead of reverting when `failing` is set.
contract FalseReturnToken is BaseTestToken {
    bool public failing;

    function setFailing(bool failing_) external {
        failing = failing_;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        _approve(spender, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        if (failing) return false;
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        if (failing) return false;
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }
}

/// @dev Burns 1% of every transfer, so the receiver gets less than was sent.
contract FeeOnTransferToken is BaseTestToken {
    function approve(address spender, uint256 amount) external returns (bool) {
        _approve(spender, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) internal override {
        uint256 fee = amount / 100;
        super._move(from, to, amount - fee);
        if (fee > 0) {
            balanceOf[from] -= fee;
            totalSupply -= fee;
        }
    }
}

/// @dev Calls back into a target (the market) with preset calldata on every transfer, to prove
/// the market rejects re-entry.
contract ReentrantToken is BaseTestToken {
    address public target;
    bytes public payload;
    bool public lastCallSucceeded;
    bytes public lastRevertData;

    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        _approve(spender, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _reenter();
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _reenter();
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }

    function _reenter() private {
        if (target == address(0)) return;
        address t = target;
        target = address(0);
        (bool ok, bytes memory data) = t.call(payload);
        lastCallSucceeded = ok;
        lastRevertData = data;
    }
}
