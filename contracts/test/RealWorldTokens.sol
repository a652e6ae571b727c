// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @dev Test-only tokens that bend ERC20 the way deployed tokens do (USDT, MKR, COMP-style
/// allowances, metadata-less tokens). Never deploy outside tests.

/// @dev Balances and minting only: no metadata, so each token below adds exactly its own.
abstract contract MiniToken {
    mapping(address => uint256) public balanceOf;
    uint256 public totalSupply;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
        totalSupply += amount;
        emit Transfer(address(0), to, amount);
    }

    function _move(address from, address to, uint256 amount) internal {
        require(balanceOf[from] >= amount, "balance");
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}

/// @dev USDT's rules: no return values, and `approve` reverts when it would change a non-zero
/// allowance to another non-zero value (the "approve race" guard); 6 decimals.
contract ApproveRaceToken is MiniToken {
    string public constant name = "Tether-style USD";
    string public constant symbol = "USDR";
    uint8 public constant decimals = 6;
    mapping(address => mapping(address => uint256)) public allowance;

    function approve(address spender, uint256 amount) external {
        require(amount == 0 || allowance[msg.sender][spender] == 0, "approve race");
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
    }

    function transfer(address to, uint256 amount) external {
        _move(msg.sender, to, amount);
    }

    function transferFrom(address from, address to, uint256 amount) external {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= amount, "allowance");
        if (allowed != type(uint256).max) allowance[from][msg.sender] = allowed - amount;
        _move(from, to, amount);
    }
}

/// @dev Allowances stored in 96 bits (as COMP and UNI do): approving the uint256 maximum
/// stores and reads back 2^96 - 1, and every transfer spends from it.
contract CappedAllowanceToken is MiniToken {
    string public constant name = "Capped Allowance Token";
    string public constant symbol = "CAP";
    uint8 public constant decimals = 18;
    mapping(address => mapping(address => uint96)) private _allowances;

    function allowance(address owner, address spender) external view returns (uint256) {
        return _allowances[owner][spender];
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        uint96 stored = amount == type(uint256).max ? type(uint96).max : _safe96(amount);
        _allowances[msg.sender][spender] = stored;
        emit Approval(msg.sender, spender, stored);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint96 allowed = _allowances[from][msg.sender];
        require(allowed >= amount, "allowance");
        _allowances[from][msg.sender] = allowed - uint96(amount);
        _move(from, to, amount);
        return true;
    }

    function _safe96(uint256 amount) private pure returns (uint96) {
        require(amount <= type(uint96).max, "amount exceeds 96 bits");
        return uint96(amount);
    }
}

/// @dev Plain ERC20 allowance handling shared by the metadata variants below.
abstract contract PlainToken is MiniToken {
    mapping(address => mapping(address => uint256)) public allowance;

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= amount, "allowance");
        if (allowed != type(uint256).max) allowance[from][msg.sender] = allowed - amount;
        _move(from, to, amount);
        return true;
    }
}

/// @dev MKR/SAI-style metadata: `name` and `symbol` are `bytes32`, not `string`.
contract Bytes32MetadataToken is PlainToken {
    bytes32 public constant name = "Maker-style Token";
    bytes32 public constant symbol = "MKRX";
    uint8 public constant decimals = 18;
}

/// @dev No `name`, `symbol` or `decimals` at all: EIP-20 makes them optional.
contract NoMetadataToken is PlainToken {}
