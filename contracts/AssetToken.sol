// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title AssetToken — an OTC asset (a bond, a cash token, …) issued by the market initializer.
/// @notice Holders may burn (redeem) their own tokens. Accounts holding `ISSUER_ROLE` issue new
/// supply, up to `cap` when one is set; the admin grants and revokes the role, so an issuer key
/// can be rotated without redeploying the asset.
contract AssetToken is ERC20, ERC20Burnable, AccessControl {
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");

    uint8 private immutable _decimals;
    /// @notice Maximum total supply in base units; 0 means uncapped.
    uint256 public immutable cap;

    event Issued(address indexed issuer, address indexed to, uint256 amount);

    error CapExceeded(uint256 cap, uint256 supplyAfter);
    error ZeroIssue();

    /// @param admin Receives the admin and issuer roles (the market initializer).
    constructor(string memory name_, string memory symbol_, uint8 decimals_, uint256 cap_, address admin)
        ERC20(name_, symbol_)
    {
        _decimals = decimals_;
        cap = cap_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ISSUER_ROLE, admin);
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Issue `amount` new base units to `to`.
    function issue(address to, uint256 amount) external onlyRole(ISSUER_ROLE) {
        if (amount == 0) revert ZeroIssue();
        _mint(to, amount);
        uint256 supply = totalSupply();
        if (cap != 0 && supply > cap) revert CapExceeded(cap, supply);
        emit Issued(msg.sender, to, amount);
    }
}
